import { graphql, readFragment, type FragmentType } from '../gql/index.js';

/** The balance card: points to spend, points still pending, and what expires next. */
export const BalanceFragment = graphql(`
  fragment Balance_member on Member {
    id
    balance {
      available
      pending
      lifetime
    }
    expiringPoints {
      expiresAt
      points
    }
  }
`);

export function balanceCard(data: FragmentType<typeof BalanceFragment>): string[] {
  const { balance, expiringPoints } = readFragment(BalanceFragment, data);
  const lines = [`balance: ${balance.available} points available, ${balance.pending} pending (${balance.lifetime} earned in all)`];
  const next = expiringPoints[0];
  if (next) lines.push(`  ${next.points} points expire on ${next.expiresAt.slice(0, 10)}`);
  return lines;
}
