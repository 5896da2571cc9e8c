import type { GraphQLContext } from './context.js';
import { perRequest } from './per-request.js';

/**
 * A type's visibility rule for the objects of one member, as one scope map per
 * member per request.
 *
 * A type's `visibleTo` rule is decided once per object (src/graphql/visibility.ts),
 * and scope-auth keeps each decision per scope map object for the request. A rule that builds
 * a new map per object makes it decide again for every ledger entry and voucher
 * of the same member (a status answer has a dozen); handing it the same map
 * lets it reuse the first decision. The rule itself is unchanged: the map is
 * the one `rule(memberId)` returns, and it depends on nothing but the member id.
 */
export function perMember<Scopes extends object>(rule: (memberId: string) => Scopes): (memberId: string, ctx: GraphQLContext) => Scopes {
  const mapsOf = perRequest(() => new Map<string, Scopes>());
  return (memberId, ctx) => {
    const maps = mapsOf(ctx);
    let scopes = maps.get(memberId);
    if (!scopes) {
      scopes = rule(memberId);
      maps.set(memberId, scopes);
    }
    return scopes;
  };
}
