// Command-line front end of the JPKI reader over the mynasim bridge: one "tap", one JSON line.
//
//   JPKI_AUTH_PIN=1234 node --experimental-websocket build/main.js \
//     --url ws://127.0.0.1:8765 --profile android-isodep [--persona android] \
//     [--aids D392F000260100000001,...] --digest <64 hex digits: SHA-256 of the data to sign>
//
// The PIN comes from the environment, never from the command line (other users can read argv),
// and is never printed. Exit status: 0 signed; 1 the card or the bridge refused (the JSON line
// says why); 2 bad usage.

import { BridgeError, BridgeTransport, type Frame } from './transport';
import {
  CardError,
  JpkiReader,
  PinBlockedError,
  WrongPinError,
  authenticate,
  bytesToHex,
  hexOfSw,
  hexToBytes,
} from './jpkiReader';

/** The select-identifier list an iOS app declares in Info.plist (JPKI first, as TRET does). */
const IOS_SELECT_IDENTIFIERS = [
  'D392F000260100000001',
  'D3921000310001010408',
  'D3921000310001010100',
  'D3921000310001010401',
];
const PROFILES = ['raw', 'android-isodep', 'android-hce', 'ios-corenfc'];

function options(argv: string[]): Map<string, string> {
  const found = new Map<string, string>();
  for (let i = 0; i < argv.length; i += 2) {
    const name = argv[i]!;
    const value = argv[i + 1];
    if (!name.startsWith('--') || value === undefined) throw new Error(`bad argument ${name}`);
    found.set(name.slice(2), value);
  }
  return found;
}

function print(result: Record<string, unknown>): void {
  process.stdout.write(`${JSON.stringify(result)}\n`);
}

async function main(): Promise<number> {
  let args: Map<string, string>;
  let digest: Uint8Array;
  try {
    args = options(process.argv.slice(2));
    digest = hexToBytes(args.get('digest') ?? '');
    if (!args.has('url') || !PROFILES.includes(args.get('profile') ?? '') || digest.length !== 32) {
      throw new Error('need --url, --profile raw|android-isodep|android-hce|ios-corenfc, --digest');
    }
  } catch (error) {
    process.stderr.write(`usage: ${(error as Error).message}\n`);
    return 2;
  }
  const pin = process.env.JPKI_AUTH_PIN ?? '';
  const profile = args.get('profile')!;
  const hello: Frame = { type: 'hello', version: 1, profile };
  const persona = args.get('persona');
  if (persona !== undefined) hello.persona = persona;
  if (profile === 'ios-corenfc') hello.aids = args.get('aids')?.split(',') ?? IOS_SELECT_IDENTIFIERS;

  let transport: BridgeTransport | undefined;
  try {
    const [opened, card] = await BridgeTransport.open(args.get('url')!, hello);
    transport = opened;
    const reader = new JpkiReader(transport);
    const result = await authenticate(reader, pin, digest);
    print({
      ok: true,
      profile,
      persona: card.persona,
      interface: card.interface,
      initial_selected_aid: card.initial_selected_aid,
      pin_before_certificate: result.pinBeforeCertificate,
      tries_left: result.triesLeft,
      digest_hex: bytesToHex(digest),
      certificate_hex: bytesToHex(result.certificate),
      certificate_base64: Buffer.from(result.certificate).toString('base64'),
      signature_hex: bytesToHex(result.signature),
    });
    return 0;
  } catch (error) {
    print(describe(error, profile));
    return 1;
  } finally {
    transport?.close();
  }
}

/** The JSON line for a failure: what an app would show the user. */
function describe(error: unknown, profile: string): Record<string, unknown> {
  if (error instanceof WrongPinError) {
    return { ok: false, profile, error: 'wrong-pin', sw: hexOfSw(error.sw), tries_left: error.triesLeft };
  }
  if (error instanceof PinBlockedError) {
    return { ok: false, profile, error: 'pin-blocked', sw: hexOfSw(error.sw), tries_left: 0 };
  }
  if (error instanceof CardError) {
    return { ok: false, profile, error: 'card', step: error.step, sw: hexOfSw(error.sw) };
  }
  if (error instanceof BridgeError) {
    return { ok: false, profile, error: 'bridge', code: error.code, message: error.message };
  }
  return { ok: false, profile, error: 'internal', message: String(error) };
}

main().then(
  (code) => {
    process.exitCode = code;
  },
  (error: unknown) => {
    process.stderr.write(`${String(error)}\n`);
    process.exitCode = 1;
  },
);
