/**
 * Type-level checks, run by `tsc` (`npm run check`): the scalar map reaches the generated types,
 * so no money, points or date arrives as `unknown` or `any`. `Expect<…>` fails compilation when a
 * check is false. (tests/examples/examples.test.ts also reads the generated files for `unknown`.)
 */
import type {
  Activity_MemberFragment,
  Balance_MemberFragment,
  StatusHeader_MemberFragment,
  VoucherCard_VoucherFragment,
} from './member-app/gql/graphql.js';
import type {
  EarnForOrderMutation,
  EarnPointsInput,
  RedeemPointsInput,
  RedeemVoucherAtCheckoutMutation,
} from './storefront/gql/graphql.js';

type Exactly<A, B> = [A] extends [B] ? ([B] extends [A] ? true : false) : false;
type Expect<T extends true> = T;
type Payload<T, Name extends string> = Extract<T, { __typename: Name }>;

export type ScalarMapChecks = [
  // Points in: a whole number, or a numeral string.
  Expect<Exactly<RedeemPointsInput['points'], number | `${number}`>>,
  Expect<Exactly<NonNullable<EarnPointsInput['points']>, number | `${number}`>>,
  // Points out: numbers.
  Expect<Exactly<Payload<EarnForOrderMutation['earnPoints'], 'EarnPointsPayload'>['points'], number>>,
  Expect<Exactly<Balance_MemberFragment['balance']['available'], number>>,
  Expect<Exactly<Activity_MemberFragment['ledger']['edges'][number]['node']['amount'], number>>,
  // Money out: Decimal strings.
  Expect<Exactly<Payload<RedeemVoucherAtCheckoutMutation['redeemVoucher'], 'RedeemVoucherPayload'>['discount']['amount'], string>>,
  Expect<Exactly<NonNullable<VoucherCard_VoucherFragment['value']>['amount'], string>>,
  // DateTime: RFC 3339 strings.
  Expect<Exactly<StatusHeader_MemberFragment['tierSince'], string>>,
];
