import { graphql, readFragment, type FragmentType } from '../gql/index.js';

/** The tier progress bar: qualifying points towards the next tier. */
export const TierProgressFragment = graphql(`
  fragment TierProgress_member on Member {
    id
    tierProgress {
      qualifyingPoints
      pointsToNext
      reviewAt
      next {
        key
        name
        threshold
      }
    }
  }
`);

export function tierProgressBar(data: FragmentType<typeof TierProgressFragment>): string[] {
  const { tierProgress: progress } = readFragment(TierProgressFragment, data);
  if (!progress.next || progress.pointsToNext === null || progress.pointsToNext === undefined) {
    return [`tier: top tier reached (${progress.qualifyingPoints} qualifying points)`];
  }
  const width = 20;
  const done = Math.min(width, Math.floor((progress.qualifyingPoints / progress.next.threshold) * width));
  return [`tier: [${'#'.repeat(done)}${'.'.repeat(width - done)}] ${progress.pointsToNext} points to ${progress.next.name}`];
}
