// Seam kit (Dart / Flutter): the one call a My Number reader needs, with the production
// implementation (flutter_nfc_kit) and the test-build implementation (the mynasim WebSocket
// bridge over package:web_socket_channel, contract docs/phone/bridge-protocol.md). Reader code
// takes an ApduTransport; only the place that builds it differs between the app and its tests.
// Dependencies: flutter_nfc_kit, web_socket_channel (>= 2.3, for `ready`), async (StreamQueue).
import 'dart:convert';
import 'dart:typed_data';

import 'package:async/async.dart';
import 'package:flutter_nfc_kit/flutter_nfc_kit.dart';
import 'package:web_socket_channel/web_socket_channel.dart';

/// One command APDU in, response data + SW1 SW2 out.
abstract interface class ApduTransport {
  Future<Uint8List> transceive(Uint8List apdu);
}

/// Production: after `FlutterNfcKit.poll()` returned an iso7816 tag.
class NfcKitTransport implements ApduTransport {
  @override
  Future<Uint8List> transceive(Uint8List apdu) => FlutterNfcKit.transceive<Uint8List>(apdu);
}

/// A bridge error frame ("tag-lost", "transceive-too-long", ...) or a closed session.
class BridgeException implements Exception {
  BridgeException(this.code, this.message);
  BridgeException.fromFrame(Map<String, dynamic> frame)
      : this(frame['code'].toString(), frame['message'].toString());
  final String code, message;

  @override
  String toString() => 'BridgeException($code: $message)';
}

/// Test builds: one WebSocket to `mynasim serve --bridge` = one tap of one card (lock-step).
class BridgeTransport implements ApduTransport {
  BridgeTransport._(this._channel) : _answers = StreamQueue<Object?>(_channel.stream);
  final WebSocketChannel _channel;
  final StreamQueue<Object?> _answers;

  /// The bridge's "card" frame: interface, uid, max_transceive, initial_selected_aid.
  late final Map<String, dynamic> card;

  static Future<BridgeTransport> open(Uri url, Map<String, Object?> hello) async {
    final channel = WebSocketChannel.connect(url);
    await channel.ready;
    final transport = BridgeTransport._(channel);
    transport.card = await transport.control(hello);
    return transport;
  }

  /// Send one frame (Uint8List: an APDU; String: JSON control) and take its answer.
  Future<Object> _exchange(Object frame) async {
    _channel.sink.add(frame);
    if (!await _answers.hasNext) throw BridgeException('closed', 'the bridge closed the session');
    final answer = await _answers.next;
    if (answer is List<int> && frame is Uint8List) return Uint8List.fromList(answer);
    final reply = answer is String ? jsonDecode(answer) as Map<String, dynamic> : null;
    if (reply != null && reply['type'] == 'error') throw BridgeException.fromFrame(reply);
    if (reply == null || frame is! String) throw BridgeException('protocol', 'wrong kind of answer');
    return reply;
  }

  @override
  Future<Uint8List> transceive(Uint8List apdu) async => await _exchange(apdu) as Uint8List;

  /// A JSON control frame (hello, remove, insert, reset) and its answer.
  Future<Map<String, dynamic>> control(Map<String, Object?> frame) async =>
      await _exchange(jsonEncode(frame)) as Map<String, dynamic>;

  Future<void> close() async => _channel.sink.close(1000);
}
