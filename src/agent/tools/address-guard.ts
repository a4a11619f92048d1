import { lookup as dnsLookup, type LookupAddress, type LookupOptions } from 'node:dns';
import { BlockList, isIP, type LookupFunction } from 'node:net';
import { ToolError } from '../../core/errors.ts';

/** Says whether an IP address may not be reached. */
export type AddressPolicy = (address: string) => boolean;

/** dns.lookup's callback form with `all: true`, the one seam the guard needs. */
export type Resolve = (hostname: string, options: LookupOptions & { all: true }, callback: (err: NodeJS.ErrnoException | null, addresses: LookupAddress[]) => void) => void;

// What a web page must not make the daemon reach: this machine, the LAN, link-local (cloud metadata
// at 169.254.169.254), and addresses that are not single hosts. IANA special-purpose registries:
// https://www.iana.org/assignments/iana-ipv4-special-registry, .../iana-ipv6-special-registry
const IPV4_PRIVATE: Array<[string, number]> = [
  ['0.0.0.0', 8], // "this network"; 0.0.0.0 reaches localhost on Linux
  ['10.0.0.0', 8],
  ['100.64.0.0', 10], // carrier-grade NAT
  ['127.0.0.0', 8],
  ['169.254.0.0', 16],
  ['172.16.0.0', 12],
  ['192.0.0.0', 24],
  ['192.168.0.0', 16],
  ['198.18.0.0', 15], // benchmarking
  ['224.0.0.0', 4], // multicast
  ['240.0.0.0', 4], // reserved, and 255.255.255.255
];
const IPV6_PRIVATE: Array<[string, number]> = [
  ['::', 96], // ::, ::1 and the deprecated IPv4-compatible ::a.b.c.d
  ['fc00::', 7], // unique local
  ['fe80::', 10], // link-local
  ['fec0::', 10], // deprecated site-local
  ['ff00::', 8], // multicast
];

const PRIVATE = new BlockList();
for (const [net, prefix] of IPV4_PRIVATE) PRIVATE.addSubnet(net, prefix, 'ipv4');
for (const [net, prefix] of IPV6_PRIVATE) PRIVATE.addSubnet(net, prefix, 'ipv6');

/**
 * True for loopback, private, link-local and other non-public addresses, IPv4 and IPv6. An
 * IPv4-mapped IPv6 address (::ffff:127.0.0.1) is judged by its IPv4 address (BlockList does that).
 * Anything that is not an IP address is refused too, rather than guessed at.
 */
export function isPrivateAddress(address: string): boolean {
  const bare = address.replace(/^\[|\]$/g, '').replace(/%.*$/, '');
  const family = isIP(bare);
  if (family === 0) return true;
  return PRIVATE.check(bare, family === 4 ? 'ipv4' : 'ipv6');
}

function refusal(host: string, address: string): ToolError {
  const via = host === address ? `${host} is` : `${host} resolves to ${address},`;
  return new ToolError(`refused: ${via} a loopback, private or link-local address. web_fetch only reaches public addresses (the bot's owner can allow private ones with tools.web.allow_private: true)`);
}

/** For a URL's host given as an IP address, which never goes through a lookup: refuses it if the policy says so. */
export function checkLiteralHost(hostname: string, refused: AddressPolicy): void {
  const bare = hostname.replace(/^\[|\]$/g, '');
  if (isIP(bare) !== 0 && refused(bare)) throw refusal(bare, bare);
}

/**
 * A `lookup` for http.request that resolves every address of the host and fails if any is refused.
 * The socket then connects to exactly the addresses that were checked, so a DNS answer that changes
 * between a check and the connection (DNS rebinding) cannot slip through.
 */
export function guardedLookup(refused: AddressPolicy, resolve: Resolve = dnsLookup): LookupFunction {
  return (hostname, options, callback) => {
    resolve(hostname, { ...options, all: true }, (err, addresses) => {
      if (err) return callback(err, '');
      const bad = addresses.find((a) => refused(a.address));
      if (bad) return callback(refusal(hostname, bad.address), '');
      if (addresses.length === 0) return callback(Object.assign(new Error(`no address found for ${hostname}`), { code: 'ENOTFOUND' }), '');
      if (options.all) return callback(null, addresses);
      const first = addresses[0]!;
      callback(null, first.address, first.family);
    });
  };
}
