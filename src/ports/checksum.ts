/** Checksums the domain uses (WAL frames), computed by an adapter. */
export interface Checksum {
  /** CRC-32C (Castagnoli), as in T4's and etcd's WAL frames. */
  crc32c(data: Uint8Array): number;
}
