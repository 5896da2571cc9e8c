import { BlockList, isIP } from 'node:net';

/**
 * Addresses a webhook must never reach unless allowed (no server-side request
 * forgery through a webhook URL): the machine itself, private networks, link-
 * local (cloud metadata at 169.254.169.254), and ranges that are not unicast
 * on the internet. IPv4 inside IPv6 (mapped, NAT64, 6to4) is judged as the
 * IPv4 address it carries; the forms no network routes to the internet
 * (IPv4-compatible ::a.b.c.d, IPv4-translated ::ffff:0:a.b.c.d) are refused
 * whatever they carry, and so is any IPv6 address outside global unicast
 * (2000::/3).
 */
const RANGES: readonly [reason: string, family: 'ipv4' | 'ipv6', network: string, prefix: number][] = [
  ['unspecified', 'ipv4', '0.0.0.0', 8],
  ['private', 'ipv4', '10.0.0.0', 8],
  ['private', 'ipv4', '100.64.0.0', 10], // carrier-grade NAT
  ['loopback', 'ipv4', '127.0.0.0', 8],
  ['link-local', 'ipv4', '169.254.0.0', 16],
  ['private', 'ipv4', '172.16.0.0', 12],
  ['reserved', 'ipv4', '192.0.0.0', 24],
  ['reserved', 'ipv4', '192.0.2.0', 24],
  ['reserved', 'ipv4', '192.88.99.0', 24], // the former 6to4 relay anycast
  ['private', 'ipv4', '192.168.0.0', 16],
  ['reserved', 'ipv4', '198.18.0.0', 15],
  ['reserved', 'ipv4', '198.51.100.0', 24],
  ['reserved', 'ipv4', '203.0.113.0', 24],
  ['multicast', 'ipv4', '224.0.0.0', 4],
  ['reserved', 'ipv4', '240.0.0.0', 4],
  ['unspecified', 'ipv6', '::', 128],
  ['loopback', 'ipv6', '::1', 128],
  ['private', 'ipv6', '64:ff9b:1::', 48], // local-use NAT64 (RFC 8215): a translator into private networks
  ['private', 'ipv6', 'fc00::', 7],
  ['link-local', 'ipv6', 'fe80::', 10],
  ['private', 'ipv6', 'fec0::', 10], // site-local (deprecated)
  ['multicast', 'ipv6', 'ff00::', 8],
  ['reserved', 'ipv6', '2001::', 23], // IETF protocol assignments: Teredo, benchmarking, ORCHID
  ['reserved', 'ipv6', '2001:db8::', 32],
  ['reserved', 'ipv6', '3fff::', 20], // documentation (RFC 9637)
];

/** The only IPv6 addresses the internet routes to; anything else is unassigned or special. */
const GLOBAL_UNICAST = new BlockList();
GLOBAL_UNICAST.addSubnet('2000::', 3, 'ipv6');

const lists = new Map<string, BlockList>();
for (const [reason, family, network, prefix] of RANGES) {
  let list = lists.get(reason);
  if (!list) lists.set(reason, (list = new BlockList()));
  list.addSubnet(network, prefix, family);
}

export const isIpLiteral = (host: string): boolean => isIP(host) !== 0;

/**
 * The IPv4 address an IPv6 address carries, if any, and whether that form is routed to it: mapped
 * ::ffff:a.b.c.d, NAT64 64:ff9b::/96 and 6to4 2002::/16 are; IPv4-compatible ::a.b.c.d (deprecated) and
 * IPv4-translated ::ffff:0:a.b.c.d (SIIT) are not on the internet, but a host or translator may still
 * take them to the IPv4 address.
 */
function embeddedIpv4(address: string): { ipv4: string; routed: boolean } | null {
  const lower = address.toLowerCase();
  const dotted = /^(?:::ffff:|64:ff9b::)(\d+\.\d+\.\d+\.\d+)$/.exec(lower);
  if (dotted) return { ipv4: dotted[1]!, routed: true };
  const words = expandIpv6(lower);
  if (!words) return null;
  const toIpv4 = (high: number, low: number) => `${high >> 8}.${high & 255}.${low >> 8}.${low & 255}`;
  const zeros = (from: number, to: number) => words.slice(from, to).every((word) => word === 0);
  const mapped = zeros(0, 5) && words[5] === 0xffff;
  const nat64 = words[0] === 0x64 && words[1] === 0xff9b && zeros(2, 6);
  if (mapped || nat64) return { ipv4: toIpv4(words[6]!, words[7]!), routed: true };
  if (words[0] === 0x2002) return { ipv4: toIpv4(words[1]!, words[2]!), routed: true };
  // ::/96 but not :: and ::1 (nor the rest of ::/112), which are judged as IPv6.
  const compatible = zeros(0, 6) && words[6] !== 0;
  const translated = zeros(0, 4) && words[4] === 0xffff && words[5] === 0;
  if (compatible || translated) return { ipv4: toIpv4(words[6]!, words[7]!), routed: false };
  return null;
}

/** The eight 16-bit words of an IPv6 address (an IPv4 tail included), or null. */
function expandIpv6(address: string): number[] | null {
  let text = address;
  const tail = /(\d+\.\d+\.\d+\.\d+)$/.exec(text);
  if (tail) {
    const [a, b, c, d] = tail[1]!.split('.').map(Number) as [number, number, number, number];
    text = `${text.slice(0, -tail[1]!.length)}${((a << 8) | b).toString(16)}:${((c << 8) | d).toString(16)}`;
  }
  const halves = text.split('::');
  if (halves.length > 2) return null;
  const head = halves[0] ? halves[0].split(':') : [];
  const rest = halves.length === 2 && halves[1] ? halves[1].split(':') : [];
  const missing = 8 - head.length - rest.length;
  if (missing < 0 || (halves.length === 1 && missing !== 0)) return null;
  const words = [...head, ...Array<string>(missing).fill('0'), ...rest].map((word) => parseInt(word, 16));
  return words.length === 8 && words.every((word) => Number.isInteger(word) && word >= 0 && word <= 0xffff) ? words : null;
}

/**
 * Why an address may not be called ("loopback", "private", "link-local",
 * "multicast", "reserved", "unspecified"), or null for a public unicast address.
 */
export function blockedAddressReason(address: string): string | null {
  const family = isIP(address);
  if (family === 0) return 'unparsable';
  if (family === 6) {
    const inner = embeddedIpv4(address);
    if (inner) return blockedAddressReason(inner.ipv4) ?? (inner.routed ? null : 'reserved');
  }
  const type = family === 4 ? 'ipv4' : 'ipv6';
  for (const [reason, list] of lists) if (list.check(address, type)) return reason;
  if (type === 'ipv6' && !GLOBAL_UNICAST.check(address, 'ipv6')) return 'reserved';
  return null;
}
