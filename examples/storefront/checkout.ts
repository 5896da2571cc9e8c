/**
 * A storefront's checkout against Treue, typed from `schema.graphql` by the client preset.
 *
 *   TREUE_URL=http://localhost:4000/graphql TREUE_API_KEY=… npx tsx examples/storefront/checkout.ts CUSTOMER_ID
 *
 * The key needs the scopes members:read, members:write, points:earn, points:redeem and vouchers:redeem.
 * It enrols the customer (or finds them when they already are a member), earns points on a first
 * order, buys the cheapest reward with points, validates and redeems the reward's voucher on a second
 * order, pays part of that order with points, and tries the voucher once more. Every idempotency key
 * is derived from the customer and the step, so running it again repeats nothing and prints the same.
 *
 * Each mutation answers a union of its payload and typed errors; each is handled by a
 * `switch (result.__typename)` whose `default` is `assertNever`: a new error type in the schema
 * is a compile error here until the checkout decides what to do with it.
 */
import { assertNever, connectionFromEnv, execute } from '../client.js';
import { graphql } from './gql/index.js';
import type {
  EarnForOrderMutation,
  EnrollCustomerMutation,
  PayWithPointsMutation,
  RedeemVoucherAtCheckoutMutation,
  BuyRewardMutation,
} from './gql/graphql.js';

const connection = connectionFromEnv('TREUE_API_KEY');
/** The program's currency (ISO 4217). */
const CURRENCY = process.env.TREUE_CURRENCY ?? 'EUR';

/** A typed error the shopper cannot fix at checkout (bad configuration, a bug, a race): the checkout stops. */
class CheckoutStopped extends Error {}

const EnrollCustomer = graphql(`
  mutation EnrollCustomer($input: EnrollMemberInput!) {
    enrollMember(input: $input) {
      __typename
      ... on EnrollMemberPayload {
        member {
          id
        }
      }
      ... on AlreadyExistsError {
        field
      }
      ... on ValidationError {
        field
      }
      ... on Error {
        code
        message
      }
    }
  }
`);

const MemberByCustomerId = graphql(`
  query MemberByCustomerId($externalId: String!) {
    memberByExternalId(externalId: $externalId) {
      id
    }
  }
`);

async function enrol(customerId: string): Promise<string> {
  const { enrollMember: result } = await execute(connection, EnrollCustomer, {
    input: { externalId: customerId, email: `${customerId}@example.com`, name: `Customer ${customerId}` },
  });
  return memberOf(result, customerId);
}

async function memberOf(result: EnrollCustomerMutation['enrollMember'], customerId: string): Promise<string> {
  switch (result.__typename) {
    case 'EnrollMemberPayload':
      return result.member.id;
    case 'AlreadyExistsError': {
      // A returning customer: the storefront's customer id (or e-mail) is already a member.
      const { memberByExternalId } = await execute(connection, MemberByCustomerId, { externalId: customerId });
      if (!memberByExternalId) throw new CheckoutStopped(`${result.field} is taken by another member`);
      return memberByExternalId.id;
    }
    case 'ValidationError':
      throw new CheckoutStopped(`enrolment refused: ${result.field}: ${result.message}`);
    case 'ForbiddenError':
    case 'UnauthenticatedError':
      throw new CheckoutStopped(`the storefront's key may not enrol members (${result.code})`);
    default:
      return assertNever(result);
  }
}

const EarnForOrder = graphql(`
  mutation EarnForOrder($input: EarnPointsInput!) {
    earnPoints(input: $input) {
      __typename
      ... on EarnPointsPayload {
        points
        member {
          id
          balance {
            available
            pending
          }
        }
      }
      ... on ValidationError {
        field
      }
      ... on IdempotencyConflictError {
        idempotencyKey
      }
      ... on NotFoundError {
        entity
      }
      ... on Error {
        code
        message
      }
    }
  }
`);

function earned(result: EarnForOrderMutation['earnPoints']): number {
  switch (result.__typename) {
    case 'EarnPointsPayload':
      return result.points;
    case 'ValidationError':
      // e.g. an order that already earned: nothing more to earn on it.
      throw new CheckoutStopped(`earning refused: ${result.field}: ${result.message}`);
    case 'IdempotencyConflictError':
      throw new CheckoutStopped(`idempotency key ${result.idempotencyKey} was used for another request`);
    case 'NotFoundError':
      throw new CheckoutStopped(`${result.entity} not found`);
    case 'ForbiddenError':
    case 'UnauthenticatedError':
      throw new CheckoutStopped(`the storefront's key may not earn points (${result.code})`);
    default:
      return assertNever(result);
  }
}

const CheapestReward = graphql(`
  query CheapestReward {
    rewards(first: 1) {
      edges {
        node {
          id
          name
          pointsCost
        }
      }
    }
  }
`);

const BuyReward = graphql(`
  mutation BuyReward($input: RedeemRewardInput!) {
    redeemReward(input: $input) {
      __typename
      ... on RedeemRewardPayload {
        pointsSpent
        voucher {
          id
          code
          value {
            amount
            currency
          }
        }
      }
      ... on InsufficientPointsError {
        available
        requested
      }
      ... on RewardUnavailableError {
        reason
      }
      ... on ValidationError {
        field
      }
      ... on IdempotencyConflictError {
        idempotencyKey
      }
      ... on NotFoundError {
        entity
      }
      ... on Error {
        code
        message
      }
    }
  }
`);

type Bought = { voucherCode: string; pointsSpent: number } | { unavailable: string };

function bought(result: BuyRewardMutation['redeemReward']): Bought {
  switch (result.__typename) {
    case 'RedeemRewardPayload':
      return { voucherCode: result.voucher.code, pointsSpent: result.pointsSpent };
    case 'InsufficientPointsError':
      return { unavailable: `needs ${result.requested} points, has ${result.available}` };
    case 'RewardUnavailableError':
      return { unavailable: result.reason }; // OUT_OF_STOCK or RETIRED: the shop hides it
    case 'ValidationError':
      throw new CheckoutStopped(`reward refused: ${result.field}: ${result.message}`);
    case 'IdempotencyConflictError':
      throw new CheckoutStopped(`idempotency key ${result.idempotencyKey} was used for another request`);
    case 'NotFoundError':
      throw new CheckoutStopped(`${result.entity} not found`);
    case 'ForbiddenError':
    case 'UnauthenticatedError':
      throw new CheckoutStopped(`the storefront's key may not redeem rewards (${result.code})`);
    default:
      return assertNever(result);
  }
}

const ValidateVoucher = graphql(`
  query ValidateVoucher($code: String!, $memberId: ID, $orderTotal: MoneyInput!) {
    validateVoucher(code: $code, memberId: $memberId, orderTotalMoney: $orderTotal) {
      valid
      reason
      discount {
        amount
        currency
      }
    }
  }
`);

const RedeemVoucherAtCheckout = graphql(`
  mutation RedeemVoucherAtCheckout($input: RedeemVoucherInput!) {
    redeemVoucher(input: $input) {
      __typename
      ... on RedeemVoucherPayload {
        discount {
          amount
          currency
        }
        voucher {
          id
          status
        }
      }
      ... on VoucherNotRedeemableError {
        reason
      }
      ... on ValidationError {
        field
      }
      ... on IdempotencyConflictError {
        idempotencyKey
      }
      ... on NotFoundError {
        entity
      }
      ... on Error {
        code
        message
      }
    }
  }
`);

type VoucherOutcome = { discount: string } | { refused: string };

function voucherOutcome(result: RedeemVoucherAtCheckoutMutation['redeemVoucher']): VoucherOutcome {
  switch (result.__typename) {
    case 'RedeemVoucherPayload':
      return { discount: `${result.discount.amount} ${result.discount.currency}` };
    case 'VoucherNotRedeemableError':
      return { refused: result.reason }; // shown to the shopper: expired, already redeemed, minimum not met…
    case 'NotFoundError':
      return { refused: 'NOT_FOUND' }; // a mistyped code
    case 'ValidationError':
      throw new CheckoutStopped(`voucher refused: ${result.field}: ${result.message}`);
    case 'IdempotencyConflictError':
      throw new CheckoutStopped(`idempotency key ${result.idempotencyKey} was used for another request`);
    case 'ForbiddenError':
    case 'UnauthenticatedError':
      throw new CheckoutStopped(`the storefront's key may not redeem vouchers (${result.code})`);
    default:
      return assertNever(result);
  }
}

const PayWithPoints = graphql(`
  mutation PayWithPoints($input: RedeemPointsInput!) {
    redeemPoints(input: $input) {
      __typename
      ... on RedeemPointsPayload {
        points
        member {
          id
          balance {
            available
          }
        }
      }
      ... on InsufficientPointsError {
        available
        requested
      }
      ... on ValidationError {
        field
      }
      ... on IdempotencyConflictError {
        idempotencyKey
      }
      ... on NotFoundError {
        entity
      }
      ... on Error {
        code
        message
      }
    }
  }
`);

type Payment = { spent: number; available: number } | { short: number };

function payment(result: PayWithPointsMutation['redeemPoints']): Payment {
  switch (result.__typename) {
    case 'RedeemPointsPayload':
      return { spent: -result.points, available: result.member.balance.available };
    case 'InsufficientPointsError':
      return { short: result.requested - result.available }; // the shopper pays the rest by card
    case 'ValidationError':
      throw new CheckoutStopped(`points refused: ${result.field}: ${result.message}`);
    case 'IdempotencyConflictError':
      throw new CheckoutStopped(`idempotency key ${result.idempotencyKey} was used for another request`);
    case 'NotFoundError':
      throw new CheckoutStopped(`${result.entity} not found`);
    case 'ForbiddenError':
    case 'UnauthenticatedError':
      throw new CheckoutStopped(`the storefront's key may not redeem points (${result.code})`);
    default:
      return assertNever(result);
  }
}

async function checkout(customerId: string) {
  const memberId = await enrol(customerId);
  console.log(`member ${memberId}`);

  const firstOrder = `${customerId}-order-1`;
  const earnedPoints = earned(
    (
      await execute(connection, EarnForOrder, {
        input: {
          memberId,
          // The order as placed: its total (what was paid) earns; the lines let earning rules match SKUs and categories.
          order: {
            reference: firstOrder,
            total: { amount: '250.00', currency: CURRENCY },
            channel: 'web',
            lines: [
              { sku: 'TEA-ASSAM-500', category: 'tea', quantity: 2, unitPrice: '45.00' },
              { sku: 'KETTLE-1', category: 'kitchen', quantity: 1, unitPrice: '160.00' },
            ],
          },
          idempotencyKey: `${firstOrder}:earn`,
        },
      })
    ).earnPoints,
  );
  console.log(`order ${firstOrder}: earned ${earnedPoints} points`);

  const secondOrder = `${customerId}-order-2`;
  const reward = (await execute(connection, CheapestReward)).rewards.edges[0]?.node;
  if (!reward) throw new CheckoutStopped('the rewards catalogue is empty');
  const purchase = bought(
    (
      await execute(connection, BuyReward, {
        input: { memberId, rewardId: reward.id, idempotencyKey: `${secondOrder}:reward` },
      })
    ).redeemReward,
  );
  if ('unavailable' in purchase) throw new CheckoutStopped(`reward ${reward.name}: ${purchase.unavailable}`);
  console.log(`reward ${reward.name}: ${purchase.pointsSpent} points for voucher ${purchase.voucherCode}`);

  const orderTotal = '80.00';
  const orderTotalMoney = { amount: orderTotal, currency: CURRENCY };
  const check = (await execute(connection, ValidateVoucher, { code: purchase.voucherCode, memberId, orderTotal: orderTotalMoney }))
    .validateVoucher;
  console.log(`voucher ${purchase.voucherCode} on ${orderTotal}: ${check.valid ? `valid, ${check.discount.amount} off` : check.reason}`);

  const redeem = (idempotencyKey: string) =>
    execute(connection, RedeemVoucherAtCheckout, {
      input: { code: purchase.voucherCode, memberId, orderRef: secondOrder, orderTotalMoney, idempotencyKey },
    });
  const voucher = voucherOutcome((await redeem(`${secondOrder}:voucher`)).redeemVoucher);
  console.log(`order ${secondOrder}: voucher ${JSON.stringify(voucher)}`);

  const paid = payment(
    (
      await execute(connection, PayWithPoints, {
        input: { memberId, points: 50, orderReference: secondOrder, idempotencyKey: `${secondOrder}:points` },
      })
    ).redeemPoints,
  );
  console.log(`order ${secondOrder}: points ${JSON.stringify(paid)}`);

  // The same voucher on another basket: refused with a reason the shop can show.
  const again = voucherOutcome((await redeem(`${customerId}-order-3:voucher`)).redeemVoucher);
  console.log(`voucher ${purchase.voucherCode} again: ${JSON.stringify(again)}`);

  return { memberId, earnedPoints, rewardPoints: purchase.pointsSpent, voucherValid: check.valid, voucher, paid, again };
}

const customerId = process.argv[2];
if (!customerId) {
  console.error('usage: checkout.ts CUSTOMER_ID');
  process.exit(2);
}
try {
  console.log(`RESULT ${JSON.stringify(await checkout(customerId))}`);
} catch (error) {
  console.error(error instanceof CheckoutStopped ? `checkout stopped: ${error.message}` : error);
  process.exitCode = 1;
}
