/**
 * A DNS lookup that answers like getaddrinfo for a name that does not exist, without any network traffic:
 * tests never query a real DNS server (the one here is not on loopback).
 */
export function notFoundLookup(
  hostname: string,
  _options: unknown,
  callback: (error: NodeJS.ErrnoException, address: string, family: number) => void,
): void {
  const error: NodeJS.ErrnoException = Object.assign(new Error(`getaddrinfo ENOTFOUND ${hostname}`), {
    code: 'ENOTFOUND',
    syscall: 'getaddrinfo',
  });
  process.nextTick(() => callback(error, '', 4));
}
