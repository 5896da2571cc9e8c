import { activityList, ActivityFragment } from './components/activity.js';
import { balanceCard, BalanceFragment } from './components/balance.js';
import { statusHeader, StatusHeaderFragment } from './components/header.js';
import { tierProgressBar, TierProgressFragment } from './components/tier-progress.js';
import { voucherWallet, VouchersFragment } from './components/vouchers.js';
import { graphql, readFragment, type FragmentType } from './gql/index.js';

// Referenced so that each component's fragment is part of this module's documents.
void [StatusHeaderFragment, BalanceFragment, TierProgressFragment, VouchersFragment, ActivityFragment];

/**
 * The status screen, composed of its components' fragments (Relay/Apollo style): the screen
 * spreads each component's fragment and hands each component the masked data it declared.
 * The same fragment feeds the first load (`me`) and every live update (`memberStatusChanged`).
 */
export const StatusScreenFragment = graphql(`
  fragment StatusScreen_member on Member {
    id
    ...StatusHeader_member
    ...Balance_member
    ...TierProgress_member
    ...Vouchers_member
    ...Activity_member
  }
`);

export const StatusScreenQuery = graphql(`
  query StatusScreen {
    me {
      ...StatusScreen_member
    }
  }
`);

export const StatusScreenLive = graphql(`
  subscription StatusScreenLive {
    memberStatusChanged {
      change {
        kind
        reference
      }
      member {
        ...StatusScreen_member
      }
    }
  }
`);

export function statusScreen(data: FragmentType<typeof StatusScreenFragment>): string {
  const member = readFragment(StatusScreenFragment, data);
  return [
    ...statusHeader(member),
    ...balanceCard(member),
    ...tierProgressBar(member),
    ...voucherWallet(member),
    ...activityList(member),
  ].join('\n');
}
