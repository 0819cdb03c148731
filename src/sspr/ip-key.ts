import { isIPv4, isIPv6 } from 'node:net';

/**
 * The address a throttle counts under. An IPv6 client gets a whole /64 from its provider and can
 * pick a new address inside it for every request (privacy extensions do it on their own), so per-IP
 * limits count the /64: `2001:db8:1:2::/64`. IPv4-mapped IPv6 (`::ffff:192.0.2.1`, what a dual-stack
 * socket reports) is the IPv4 address it maps. Anything else (a unix socket, 'unknown') is kept as is,
 * lower-cased.
 */
export function ipKey(ip: string): string {
  const raw = ip.trim().toLowerCase();
  // A zone index (`fe80::1%eth0`) names the local interface, not a different client.
  const address = raw.split('%')[0];
  const mapped = /^::ffff:(\d+\.\d+\.\d+\.\d+)$/.exec(address);
  if (mapped && isIPv4(mapped[1])) return mapped[1];
  if (isIPv4(address)) return address;
  if (!isIPv6(address)) return raw;
  return `${expandIPv6(address).slice(0, 4).map((h) => h.replace(/^0+(?=.)/, '')).join(':')}::/64`;
}

/** The eight hextets of an IPv6 address (`::` filled in, an embedded IPv4 tail turned into two). */
function expandIPv6(address: string): string[] {
  let text = address;
  const v4 = /(\d+)\.(\d+)\.(\d+)\.(\d+)$/.exec(text);
  if (v4) {
    const [a, b, c, d] = v4.slice(1).map(Number);
    text = `${text.slice(0, v4.index)}${((a << 8) | b).toString(16)}:${((c << 8) | d).toString(16)}`;
  }
  const [head, tail] = text.includes('::') ? text.split('::') : [text, null];
  const left = head ? head.split(':') : [];
  const right = tail ? tail.split(':') : [];
  const fill = tail === null ? [] : Array<string>(8 - left.length - right.length).fill('0');
  return [...left, ...fill, ...right];
}
