import { graphql, readFragment, type FragmentType } from '../gql/index.js';

/** The screen's header: who, in which tier since when, and whether the account is active. */
export const StatusHeaderFragment = graphql(`
  fragment StatusHeader_member on Member {
    id
    name
    status
    tier {
      key
      name
    }
    tierSince
  }
`);

export function statusHeader(data: FragmentType<typeof StatusHeaderFragment>): string[] {
  const member = readFragment(StatusHeaderFragment, data);
  const since = member.tierSince.slice(0, 10);
  return [`${member.name} — ${member.tier.name} since ${since}${member.status === 'ACTIVE' ? '' : ` (${member.status})`}`];
}
