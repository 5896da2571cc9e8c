/**
 * A member app's status screen against Treue, typed from `schema.graphql` by the client preset.
 *
 *   TREUE_URL=http://localhost:4000/graphql TREUE_MEMBER_TOKEN=… npx tsx examples/member-app/status.ts [UPDATES]
 *
 * Loads the screen once (`me`, built from the components' colocated fragments), then keeps it live
 * over the `memberStatusChanged` subscription (Server-Sent Events): the first event is the current
 * status, each later one follows a committed change and carries the whole screen again. Stops after
 * UPDATES changes (default: runs until the stream ends).
 */
import { connectionFromEnv, execute, subscribe } from '../client.js';
import { readFragment } from './gql/index.js';
import { BalanceFragment } from './components/balance.js';
import { statusScreen, StatusScreenFragment, StatusScreenLive, StatusScreenQuery } from './status-screen.js';

const connection = connectionFromEnv('TREUE_MEMBER_TOKEN');
const updates = process.argv[2] === undefined ? Infinity : Number(process.argv[2]);

const { me } = await execute(connection, StatusScreenQuery);
if (!me) throw new Error('the token names no member');
console.log(statusScreen(me));

const balances: number[] = [];
let changes = 0;
for await (const { memberStatusChanged: event } of subscribe(connection, StatusScreenLive)) {
  balances.push(readFragment(BalanceFragment, readFragment(StatusScreenFragment, event.member)).balance.available);
  if (event.change.kind === 'CURRENT') {
    // The stream's first event: the status as it is now. From here on every change arrives.
    console.log('live: watching');
    continue;
  }
  changes += 1;
  console.log(`\nlive: ${event.change.kind}${event.change.reference ? ` (${event.change.reference})` : ''}`);
  console.log(statusScreen(event.member));
  if (changes >= updates) {
    console.log(`RESULT ${JSON.stringify({ kind: event.change.kind, reference: event.change.reference, balances })}`);
    break;
  }
}
