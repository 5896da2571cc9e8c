import { ActorType, CauseType, LedgerEntryKind, MemberStatus, Tier } from '../generated/prisma/enums.js';
import { builder } from './builder.js';

export const MemberStatusEnum = builder.enumType(MemberStatus, {
  name: 'MemberStatus',
  description:
    'ACTIVE members have had activity in the passive period; PASSIVE have not. SUSPENDED members can neither earn nor spend, and their compensation and renewal bonuses are held until a supervisor reactivates them (then granted) or decides; CLOSED members receive nothing.',
});
export const TierEnum = builder.enumType(Tier, { name: 'Tier', description: 'Loyalty tier, lowest first.' });
export const LedgerEntryKindEnum = builder.enumType(LedgerEntryKind, {
  name: 'LedgerEntryKind',
  description: 'Why points changed.',
});
export const CauseTypeEnum = builder.enumType(CauseType, {
  name: 'CauseType',
  description: 'What a ledger entry refers to.',
});
export const ActorTypeEnum = builder.enumType(ActorType, {
  name: 'ActorType',
  description: 'Kind of caller that caused a change.',
});
