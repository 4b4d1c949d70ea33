// A JPKI (公的個人認証AP) reader written the way a phone app writes it: APDUs over an
// ApduTransport, nothing else. It reads the user-authentication certificate and signs with the
// authentication key, verifying the authentication PIN only when the card asks for it (phone
// tokens guard the certificate) and always before signing. A wrong PIN is never retried: the
// app reports the tries left and lets the user decide.

import type { ApduTransport } from './transport';

export const JPKI_AID = 'D392F000260100000001';
const EF_AUTH_CERTIFICATE = 0x000a;
const EF_AUTH_KEY = 0x0017;
const EF_AUTH_PIN = 0x0018;
/** Short Le: at most 256 response bytes, so every exchange fits IsoDep's 261-byte limit. */
const READ_CHUNK = 256;
/** DER prefix of a SHA-256 DigestInfo (PKCS #1 v2.2, section 9.2 note 1). */
const SHA256_DIGEST_INFO_PREFIX = hexToBytes('3031300D060960864801650304020105000420');

export const SW_OK = 0x9000;
export const SW_SECURITY_STATUS_NOT_SATISFIED = 0x6982;
const SW_BLOCKED = [0x6983, 0x6984];

/** A response APDU split into data and status word. */
export interface Response {
  data: Uint8Array;
  sw: number;
}

/** The card refused a step: `sw` is its status word, `step` what the reader was doing. */
export class CardError extends Error {
  constructor(readonly step: string, readonly sw: number) {
    super(`${step}: card answered ${hexOfSw(sw)}`);
  }
}

/** 63Cx to a VERIFY: the PIN was wrong, `triesLeft` tries remain. Never retried. */
export class WrongPinError extends CardError {
  constructor(readonly triesLeft: number) {
    super('verify', 0x63c0 | triesLeft);
  }
}

/** 6983/6984 to a VERIFY, or 63C0 to the status query: the PIN is blocked. */
export class PinBlockedError extends CardError {}

export class JpkiReader {
  /** The authentication PIN was verified in this session (tap). */
  verified = false;

  constructor(private readonly transport: ApduTransport) {}

  async command(step: string, apdu: Uint8Array): Promise<Response> {
    const raw = await this.transport.transceive(apdu);
    if (raw.length < 2) throw new CardError(step, 0x6f00);
    const sw = (raw[raw.length - 2]! << 8) | raw[raw.length - 1]!;
    return { data: raw.slice(0, raw.length - 2), sw };
  }

  private async expectOk(step: string, apdu: Uint8Array): Promise<Uint8Array> {
    const response = await this.command(step, apdu);
    if (response.sw !== SW_OK) throw new CardError(step, response.sw);
    return response.data;
  }

  async selectJpki(): Promise<void> {
    const aid = hexToBytes(JPKI_AID);
    await this.expectOk('select JPKI AP', concat([0x00, 0xa4, 0x04, 0x0c, aid.length], aid));
  }

  async selectEf(fid: number): Promise<void> {
    const step = `select EF ${fid.toString(16).padStart(4, '0').toUpperCase()}`;
    await this.expectOk(step, Uint8Array.of(0x00, 0xa4, 0x02, 0x0c, 0x02, fid >> 8, fid & 0xff));
  }

  /** Tries left on the authentication PIN (VERIFY without data: spends no try). */
  async authPinTriesLeft(): Promise<number> {
    await this.selectEf(EF_AUTH_PIN);
    const { sw } = await this.command('pin status', Uint8Array.of(0x00, 0x20, 0x00, 0x80));
    if ((sw & 0xfff0) === 0x63c0) return sw & 0x0f;
    if (SW_BLOCKED.includes(sw)) return 0;
    throw new CardError('pin status', sw);
  }

  /** VERIFY the authentication PIN once; a wrong PIN throws WrongPinError and is not retried. */
  async verifyAuthPin(pin: string): Promise<number> {
    const triesLeft = await this.authPinTriesLeft();
    if (triesLeft === 0) throw new PinBlockedError('pin status', 0x63c0);
    const value = new TextEncoder().encode(pin);
    const { sw } = await this.command('verify', concat([0x00, 0x20, 0x00, 0x80, value.length], value));
    if ((sw & 0xfff0) === 0x63c0) throw new WrongPinError(sw & 0x0f);
    if (SW_BLOCKED.includes(sw)) throw new PinBlockedError('verify', sw);
    if (sw !== SW_OK) throw new CardError('verify', sw);
    this.verified = true;
    return triesLeft;
  }

  /** READ BINARY of `length` bytes at `offset` of the current EF, in short-Le pieces. */
  async readBinary(offset: number, length: number): Promise<Uint8Array> {
    const out = new Uint8Array(length);
    for (let done = 0; done < length; ) {
      const size = Math.min(READ_CHUNK, length - done);
      const at = offset + done;
      const apdu = Uint8Array.of(0x00, 0xb0, (at >> 8) & 0x7f, at & 0xff, size & 0xff);
      const data = await this.expectOk(`read binary at ${at}`, apdu);
      if (data.length !== size) throw new CardError(`read binary at ${at} (short read)`, SW_OK);
      out.set(data, done);
      done += size;
    }
    return out;
  }

  /** The authentication certificate (EF 000A): DER header first, then exactly its length. */
  async readAuthCertificate(): Promise<Uint8Array> {
    await this.selectEf(EF_AUTH_CERTIFICATE);
    const header = await this.readBinary(0, 4);
    if (derLength(header) < header.length) throw new Error('EF 000A: DER shorter than its header');
    return concat(header, await this.readBinary(header.length, derLength(header) - header.length));
  }

  /** COMPUTE DIGITAL SIGNATURE (80 2A 00 80) over a DigestInfo with the authentication key. */
  async signWithAuthKey(digestInfo: Uint8Array): Promise<Uint8Array> {
    await this.selectEf(EF_AUTH_KEY);
    const apdu = concat([0x80, 0x2a, 0x00, 0x80, digestInfo.length], digestInfo, [0x00]);
    return this.expectOk('sign', apdu);
  }
}

/** What one "tap" of the app does: certificate, PIN, signature. */
export interface AuthResult {
  certificate: Uint8Array;
  signature: Uint8Array;
  /** Tries left as the status query reported them right before the successful VERIFY. */
  triesLeft: number;
  /** The card asked for the PIN before releasing the certificate (phone tokens). */
  pinBeforeCertificate: boolean;
}

/** Read the certificate (VERIFY first if the card answers 6982) and sign a SHA-256 digest. */
export async function authenticate(
  reader: JpkiReader,
  pin: string,
  sha256: Uint8Array,
): Promise<AuthResult> {
  if (sha256.length !== 32) throw new Error('a SHA-256 digest has 32 bytes');
  await reader.selectJpki();
  let triesLeft = -1;
  let certificate: Uint8Array;
  let pinBeforeCertificate = false;
  try {
    certificate = await reader.readAuthCertificate();
  } catch (error) {
    if (!(error instanceof CardError) || error.sw !== SW_SECURITY_STATUS_NOT_SATISFIED) throw error;
    pinBeforeCertificate = true;
    triesLeft = await reader.verifyAuthPin(pin);
    certificate = await reader.readAuthCertificate();
  }
  if (!reader.verified) triesLeft = await reader.verifyAuthPin(pin);
  const signature = await reader.signWithAuthKey(concat(SHA256_DIGEST_INFO_PREFIX, sha256));
  return { certificate, signature, triesLeft, pinBeforeCertificate };
}

/** Total length of the DER element whose first bytes are `header` (tag 30, definite length). */
export function derLength(header: Uint8Array): number {
  if (header[0] !== 0x30 || header.length < 2) throw new Error('EF 000A holds no DER SEQUENCE');
  const first = header[1]!;
  if (first < 0x80) return 2 + first;
  const count = first & 0x7f;
  if (count < 1 || count > 2 || header.length < 2 + count) throw new Error('unsupported DER length');
  let length = 0;
  for (let i = 0; i < count; i++) length = (length << 8) | header[2 + i]!;
  return 2 + count + length;
}

export function hexToBytes(hex: string): Uint8Array {
  if (!/^([0-9A-Fa-f]{2})*$/.test(hex)) throw new Error(`not hex: ${hex}`);
  return Uint8Array.from(hex.match(/../g) ?? [], (pair) => parseInt(pair, 16));
}

export function bytesToHex(bytes: Uint8Array): string {
  return Array.from(bytes, (byte) => byte.toString(16).padStart(2, '0')).join('').toUpperCase();
}

export function hexOfSw(sw: number): string {
  return sw.toString(16).padStart(4, '0').toUpperCase();
}

function concat(...parts: ArrayLike<number>[]): Uint8Array {
  const out = new Uint8Array(parts.reduce((sum, part) => sum + part.length, 0));
  let at = 0;
  for (const part of parts) {
    out.set(part, at);
    at += part.length;
  }
  return out;
}
