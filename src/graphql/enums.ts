import { ActorType, CauseType, LedgerEntryKind, MemberStatus } from '../generated/prisma/enums.js';
import { builder } from './builder.js';

export const MemberStatusEnum = builder.enumType(MemberStatus, {
  name: 'MemberStatus',
  description:
    'ACTIVE members have had activity in the passive period; PASSIVE have not. SUSPENDED members can neither earn nor spend, and their compensation and renewal bonuses are held until a supervisor reactivates them (then granted) or decides; CLOSED members receive nothing.',
  values: {
    ACTIVE: { description: 'Had earning or spending activity within the passive period.' },
    PASSIVE: {
      description: 'No activity within the passive period; still earns and spends, and the next activity makes the member ACTIVE again.',
    },
    SUSPENDED: {
      description: 'Can neither earn nor spend; compensation and renewal bonuses are held until reactivation or a supervisor’s decision.',
    },
    CLOSED: { description: 'The membership has ended: receives nothing and can do nothing.' },
  },
});
export const LedgerEntryKindEnum = builder.enumType(LedgerEntryKind, {
  name: 'LedgerEntryKind',
  description: 'Why points changed. The sign of `LedgerEntry.amount` says which way.',
  values: {
    EARN: { description: 'Points earned with an order (positive; pending until the order’s return window has passed).' },
    REDEEM: { description: 'Points spent: redeemed at checkout or used to buy a reward (negative).' },
    EXPIRE: { description: 'Points that reached their expiry date unspent (negative).' },
    ADJUST: { description: 'A manual correction by staff, with a reason (either sign).' },
    GOODWILL: { description: 'Points given by an agent as a goodwill gesture (positive, available at once).' },
    COMPENSATION: {
      description:
        'Points compensating a service failure (positive). Compensation is currently issued as vouchers; entries of this kind come from earlier grants.',
    },
    RENEWAL_BONUS: { description: 'The bonus for extending a contract (positive).' },
    REVERSAL: { description: 'Earned points taken back because their order was refunded, in whole or in part (negative).' },
    BONUS: {
      description:
        'Points a custom event earned by an earning rule (signup, birthday, review; positive, available at once; causeRef: the event type). Not qualifying for tiers.',
    },
    RESTORE: {
      description: 'Points redeemed on an order given back because the order was cancelled or returned, in whole or in part (positive).',
    },
  },
});
export const CauseTypeEnum = builder.enumType(CauseType, {
  name: 'CauseType',
  description: 'What a ledger entry or voucher refers to; `causeRef` holds the reference of that thing.',
  values: {
    ORDER: { description: 'An order (causeRef: the order reference): points earned with it.' },
    REFUND: { description: 'A refund of an order (causeRef: the order reference): points reversed.' },
    REDEMPTION: { description: 'A redemption of points at checkout (causeRef: the `reference` given with it, else its idempotency key).' },
    ADJUSTMENT: { description: 'A manual adjustment by staff.' },
    EXPIRY: { description: 'The expiry of points by the expiry job (causeRef: the expired lot).' },
    CASE: { description: 'A customer-service case. Not written by the current service; kept for older entries.' },
    FAILURE: { description: 'A recorded service failure (causeRef: the failure’s id): its compensation.' },
    CONTRACT: { description: 'A contract extension (causeRef: the renewal’s id): its renewal bonus.' },
    GESTURE: { description: 'A goodwill gesture (causeRef: the gesture’s id).' },
    REWARD: { description: 'A reward bought with points (causeRef: the purchase’s id).' },
    EVENT: { description: 'A custom event reported with trackEvent (causeRef: the event type, e.g. "birthday").' },
  },
});
export const ActorTypeEnum = builder.enumType(ActorType, {
  name: 'ActorType',
  description: 'Kind of caller that caused a change.',
  values: {
    API_KEY: { description: 'A system integration calling with an API key (e.g. the storefront).' },
    STAFF: { description: 'A staff user (agent, supervisor, admin) signed in to the console.' },
    MEMBER: { description: 'The member, with a member token.' },
    SYSTEM: { description: 'The service itself: a scheduled job or worker (expiry, compensation, renewal bonuses).' },
  },
});
