// Seam kit (TypeScript / React Native): the one call a card reader needs, with the production
// implementation (react-native-nfc-manager's IsoDep handler) and the test-build implementation
// (the mynasim WebSocket bridge, contract docs/phone/bridge-protocol.md). Reader code sees only
// ApduTransport, so the same reader runs against a real card and against mynasim.

/** One command APDU in, response data + SW1 SW2 out (exactly IsoDep.transceive's contract). */
export interface ApduTransport { transceive(apdu: Uint8Array): Promise<Uint8Array> }

/** The part of react-native-nfc-manager a reader uses: `NfcManager.isoDepHandler`. */
export type IsoDepHandler = { transceive(bytes: number[]): Promise<number[]> };

/** Production: `new IsoDepTransport(NfcManager.isoDepHandler)` after requestTechnology(IsoDep). */
export class IsoDepTransport implements ApduTransport {
  constructor(private readonly handler: IsoDepHandler) {}
  async transceive(apdu: Uint8Array): Promise<Uint8Array> {
    return Uint8Array.from(await this.handler.transceive(Array.from(apdu)));
  }
}

/** A bridge error frame ("tag-lost", "transceive-too-long", "no-tag", ...) or a closed socket. */
export class BridgeError extends Error {
  constructor(readonly code: string, message: string) { super(`${code}: ${message}`); }
}

export type Frame = { type: string; [field: string]: unknown };
type Waiter = { resolve: (answer: Uint8Array | Frame) => void; reject: (error: Error) => void };

/** Test builds: one WebSocket connection = one tap of a mynasim card (strict lock-step). */
export class BridgeTransport implements ApduTransport {
  private readonly waiting: Waiter[] = [];

  /** Connect and send the hello: the transport and the bridge's "card" frame. */
  static async open(url: string, hello: Frame): Promise<[BridgeTransport, Frame]> {
    const socket = new WebSocket(url);
    socket.binaryType = 'arraybuffer'; // binary frames arrive as ArrayBuffer (React Native too)
    await new Promise((resolve, reject) => {
      socket.onopen = resolve;
      socket.onerror = () => reject(new BridgeError('connect', `cannot connect to ${url}`));
    });
    const transport = new BridgeTransport(socket);
    return [transport, await transport.control(hello)];
  }

  private constructor(private readonly socket: WebSocket) {
    socket.onmessage = ({ data }: MessageEvent<ArrayBuffer | string>) => {
      const waiter = this.waiting.shift();
      if (data instanceof ArrayBuffer) return waiter?.resolve(new Uint8Array(data));
      const frame = JSON.parse(data) as Frame;
      if (frame.type !== 'error') return waiter?.resolve(frame);
      waiter?.reject(new BridgeError(String(frame.code), String(frame.message)));
    };
    socket.onclose = ({ code }: CloseEvent) =>
      this.waiting.splice(0).forEach((w) => w.reject(new BridgeError('closed', `close ${code}`)));
  }

  /** Send one frame, wait for its answer: binary for an APDU, JSON text for a control frame. */
  private async exchange(frame: Uint8Array | string): Promise<Uint8Array | Frame> {
    const answer = await new Promise<Uint8Array | Frame>((resolve, reject) => {
      if (this.socket.readyState !== WebSocket.OPEN) throw new BridgeError('closed', 'no session');
      this.waiting.push({ resolve, reject });
      this.socket.send(frame);
    });
    const wrongKind = answer instanceof Uint8Array === (typeof frame === 'string');
    if (wrongKind) throw new BridgeError('protocol', 'a text frame answered binary or the reverse');
    return answer;
  }

  transceive = (apdu: Uint8Array) => this.exchange(apdu) as Promise<Uint8Array>;
  /** A JSON control frame (hello, remove, insert, reset) and its answer. */
  control = (frame: Frame) => this.exchange(JSON.stringify(frame)) as Promise<Frame>;
  close = () => this.socket.close(1000);
}
