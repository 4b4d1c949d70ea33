// Seam kit (Kotlin / Android): the one call a My Number reader needs, with the production
// implementation (android.nfc.tech.IsoDep) and the test-build implementation (the mynasim
// WebSocket bridge over OkHttp, contract docs/phone/bridge-protocol.md). Reader code takes an
// ApduTransport; only the place that builds it differs between the app and its tests.
// Both implementations block: call them off the main thread, as IsoDep requires anyway.
package example.myna.nfc

import android.nfc.tech.IsoDep
import java.io.IOException
import java.util.concurrent.LinkedBlockingQueue
import java.util.concurrent.TimeUnit
import okhttp3.OkHttpClient
import okhttp3.Request
import okhttp3.Response
import okhttp3.WebSocket
import okhttp3.WebSocketListener
import okio.ByteString
import okio.ByteString.Companion.toByteString
import org.json.JSONObject

/** One command APDU in, response data + SW1 SW2 out (IsoDep.transceive's contract). */
interface ApduTransport {
    fun transceive(apdu: ByteArray): ByteArray
}

/** Production: the connected IsoDep of the tag reader mode delivered. */
class IsoDepTransport(private val isoDep: IsoDep) : ApduTransport {
    override fun transceive(apdu: ByteArray): ByteArray = isoDep.transceive(apdu)
}

/** A bridge error frame ("tag-lost", "transceive-too-long", ...): an IOException, like the OS's. */
class BridgeException(val code: String, message: String) : IOException("$code: $message")

/** Test builds: one WebSocket to `mynasim serve --bridge` = one tap of one card (lock-step). */
class BridgeTransport(url: String, hello: JSONObject, http: OkHttpClient = OkHttpClient()) : ApduTransport {
    private val answers = LinkedBlockingQueue<Any>()
    private val listener = object : WebSocketListener() {
        override fun onMessage(webSocket: WebSocket, bytes: ByteString) = answers.put(bytes.toByteArray())
        override fun onMessage(webSocket: WebSocket, text: String) = answers.put(JSONObject(text))
        override fun onClosed(webSocket: WebSocket, code: Int, reason: String) =
            answers.put(BridgeException("closed", "close $code"))
        override fun onFailure(webSocket: WebSocket, t: Throwable, response: Response?) =
            answers.put(BridgeException("closed", "$t"))
    }
    private val socket = http.newWebSocket(Request.Builder().url(url).build(), listener)

    /** The bridge's "card" frame: interface, uid, max_transceive, initial_selected_aid. */
    val card: JSONObject = control(hello)

    /** The next answer; error frames and a lost connection are thrown as BridgeException. */
    private fun next(): Any {
        val answer = answers.poll(30, TimeUnit.SECONDS) ?: throw BridgeException("timeout", "30 s")
        if (answer is BridgeException) throw answer
        if (answer is JSONObject && answer.optString("type") == "error") {
            throw BridgeException(answer.optString("code"), answer.optString("message"))
        }
        return answer
    }

    override fun transceive(apdu: ByteArray): ByteArray {
        socket.send(apdu.toByteString())
        return next() as? ByteArray ?: throw BridgeException("protocol", "text answer to an APDU")
    }

    /** A JSON control frame (hello, remove, insert, reset) and its answer. */
    fun control(frame: JSONObject): JSONObject {
        socket.send(frame.toString())
        return next() as? JSONObject ?: throw BridgeException("protocol", "binary answer to a control")
    }

    fun close() = socket.close(1000, null)
}
