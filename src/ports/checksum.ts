/** Checksums the domain uses (WAL frames), computed by an adapter. */
export interface Checksum {
  /** CRC-32C (Castagnoli), as in T4's and etcd's WAL frames. */
  crc32c(data: Uint8Array): number;
  /** SHA-256 as 64 lowercase hex digits (content addresses of checkpoint chunks). */
  sha256Hex(data: Uint8Array): string;
}
