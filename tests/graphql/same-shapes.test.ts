import { getNamedType, isInputObjectType, isInterfaceType, isObjectType, type GraphQLType } from 'graphql';
import { describe, expect, it } from 'vitest';
import { getSchema } from '../../src/graphql/schema.js';

/**
 * An edit form sends back what it read: points are the Points scalar both ways.
 * Every output field that holds an amount of points is Points, not Int.
 */
const schema = getSchema();

/** Output fields that hold points. Tier thresholds and standings are the tiers work's (TierRule, TierChange, TierProgress). */
const POINT_OUTPUTS = [
  'AdjustPointsPayload.points',
  'AgentAuthority.perGesturePointsLimit',
  'Balance.available',
  'Balance.lifetime',
  'Balance.pending',
  'CancelContractPayload.pointsClawedBack',
  'CancelContractPayload.pointsUnrecovered',
  'ContractRenewal.bonusPoints',
  'EarnPointsPayload.points',
  'GoodwillAuthority.perGesturePointsLimit',
  'GoodwillGesture.points',
  'InsufficientPointsError.available',
  'InsufficientPointsError.requested',
  'LedgerEntry.amount',
  'LedgerEntry.balanceAfter',
  'PointsExpiry.points',
  'RedeemPointsPayload.points',
  'RedeemRewardPayload.pointsSpent',
  'RefundOrderPayload.points',
  'RefundOrderPayload.pointsUnrecovered',
  'RenewalPolicy.pointsPer12Months',
  'Reward.pointsCost',
];

describe('the same shapes in and out: points', () => {
  it('every output amount of points is the Points scalar', () => {
    const wrong = POINT_OUTPUTS.filter((path) => {
      const [typeName, fieldName] = path.split('.') as [string, string];
      const type = schema.getType(typeName);
      if (!isObjectType(type)) return true;
      const field = type.getFields()[fieldName];
      return !field || getNamedType(field.type).name !== 'Points';
    });
    expect(wrong).toEqual([]);
  });

  it('every input amount of points is the Points scalar too (none left as Int)', () => {
    const ints: string[] = [];
    for (const type of Object.values(schema.getTypeMap())) {
      if (type.name.startsWith('__') || !(isInputObjectType(type) || isInterfaceType(type))) continue;
      for (const field of Object.values(type.getFields())) {
        const named = getNamedType(field.type as GraphQLType).name;
        const pointsLike =
          /points|threshold|pointsCost/i.test(field.name) &&
          !/^(failure|repeatFailure|detractor|openCase|contractEnding|drift)Points$/.test(field.name);
        if (pointsLike && named === 'Int') ints.push(`${type.name}.${field.name}`);
      }
    }
    expect(ints).toEqual([]);
  });
});
