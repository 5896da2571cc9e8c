import { graphql, readFragment, type FragmentType } from '../gql/index.js';

/** Recent activity: the latest movements of points. */
export const ActivityFragment = graphql(`
  fragment Activity_member on Member {
    id
    ledger(first: 5) {
      edges {
        node {
          id
          kind
          amount
          causeType
          causeRef
          createdAt
        }
      }
    }
  }
`);

export function activityList(data: FragmentType<typeof ActivityFragment>): string[] {
  const { edges } = readFragment(ActivityFragment, data).ledger;
  return [
    'activity:',
    ...edges.map(
      ({ node }) =>
        `  ${node.createdAt.slice(0, 10)} ${node.amount > 0 ? '+' : ''}${node.amount} ${node.kind} (${node.causeType} ${node.causeRef})`,
    ),
  ];
}
