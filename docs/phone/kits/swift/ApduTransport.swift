// Seam kit (Swift / iOS): the one call a My Number reader needs, with the production
// implementation (Core NFC's NFCISO7816Tag) and the test-build implementation (the mynasim
// WebSocket bridge over URLSessionWebSocketTask, contract docs/phone/bridge-protocol.md).
// Reader code takes an ApduTransport; only the place that builds it differs between the app
// and its tests (XCTest on the Simulator, which has no Core NFC at all).
import CoreNFC
import Foundation

/// One command APDU in, response data + SW1 SW2 out.
protocol ApduTransport {
    func transceive(_ apdu: Data) async throws -> Data
}

/// A bridge error frame ("tag-lost", "missing-entitlement", ...) or a broken session.
struct BridgeError: Error {
    let code: String
    let message: String
}

/// Production: the tag NFCTagReaderSession delivered (iOS already SELECTed initialSelectedAID).
struct CoreNfcTransport: ApduTransport {
    let tag: NFCISO7816Tag

    func transceive(_ apdu: Data) async throws -> Data {
        guard let command = NFCISO7816APDU(data: apdu) else {
            throw BridgeError(code: "malformed", message: "not a command APDU")
        }
        let (data, sw1, sw2) = try await tag.sendCommand(apdu: command)
        return data + Data([sw1, sw2])
    }
}

/// Test builds: one WebSocket to `mynasim serve --bridge` = one tap of one card (lock-step).
final class BridgeTransport: ApduTransport {
    private let task: URLSessionWebSocketTask
    /// The bridge's "card" frame: interface, uid, max_transceive, initial_selected_aid.
    private(set) var card: [String: Any] = [:]

    init(url: URL, hello: [String: Any]) async throws {
        task = URLSession.shared.webSocketTask(with: url)
        task.resume()
        card = try await control(hello)
    }

    func transceive(_ apdu: Data) async throws -> Data {
        try await task.send(.data(apdu))
        let answer = try await task.receive()
        if case .data(let response) = answer { return response }
        if case .string(let text) = answer { _ = try Self.frame(text) }
        throw BridgeError(code: "protocol", message: "unexpected answer to an APDU")
    }

    /// A JSON control frame (hello, remove, insert, reset) and its answer.
    func control(_ frame: [String: Any]) async throws -> [String: Any] {
        let text = String(decoding: try JSONSerialization.data(withJSONObject: frame), as: UTF8.self)
        try await task.send(.string(text))
        guard case .string(let answer) = try await task.receive() else {
            throw BridgeError(code: "protocol", message: "binary answer to a control frame")
        }
        return try Self.frame(answer)
    }

    /// A text frame as a dictionary; an error frame is thrown as BridgeError.
    private static func frame(_ text: String) throws -> [String: Any] {
        let object = try JSONSerialization.jsonObject(with: Data(text.utf8)) as? [String: Any] ?? [:]
        guard object["type"] as? String == "error" else { return object }
        throw BridgeError(code: "\(object["code"] ?? "")", message: "\(object["message"] ?? "")")
    }

    func close() { task.cancel(with: .normalClosure, reason: nil) }
}
