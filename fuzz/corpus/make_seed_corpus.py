#!/usr/bin/env python3
"""Writes the seed corpora of every fuzz target except jwt_verify (make_jwt_corpus.py) and the
dictionaries in fuzz/dict/. Run by hand; the output is committed. The Engine.IO and Socket.IO
packets are the ones the official test suites send and expect (socketio/socket.io,
docs/engine.io-protocol/v4-test-suite and docs/socket.io-protocol/v5-test-suite), the
WebSocket frames include RFC 6455's examples (section 5.7), the rest exercise Roomcast's own
rules (docs/protocol.md). Re-running rewrites the same files.
"""

import pathlib
import struct

FUZZ = pathlib.Path(__file__).resolve().parents[1]
RS = "\x1e"
OPEN = ('0{"sid":"lv_VI97HAXpY6yYWAAAC","upgrades":["websocket"],"pingInterval":25000,'
        '"pingTimeout":20000,"maxPayload":1000000}')


def write(target: str, name: str, data) -> None:
    d = FUZZ / "corpus" / target
    d.mkdir(parents=True, exist_ok=True)
    (d / name).write_bytes(data.encode() if isinstance(data, str) else data)


def eio_packet() -> None:
    seeds = {
        "message": "4hello",
        "payload-3": f"4test1{RS}4test2{RS}4test3",
        "payload-binary": f"4hello{RS}bAQIDBA==",
        "invalid": "abc",
        "ping": "2", "pong": "3", "close": "1", "noop": "6", "upgrade": "5",
        "probe": "2probe", "probe-answer": "3probe",
        "open": OPEN,
        "binary-empty": "b", "binary-bad-padding": "bAQ=", "utf8": "4caf\u00e9 \u20ac",
        "empty-part": f"4a{RS}{RS}4b",
    }
    for name, data in seeds.items():
        write("eio_packet", name, data)


SIO_SUITE = {
    "connect": "40",
    "connect-auth": '40{"token":"123"}',
    "connect-custom": "40/custom,",
    "connect-custom-auth": '40/custom,{"token":"abc"}',
    "connect-random": "40/random",
    "invalid-sio": "4abc",
    "disconnect": "41",
    "disconnect-custom": f"40/custom{RS}41/custom",
    "event": '42["message","message to main namespace"]',
    "event-args": '42["message",1,"2",{"3":[true]}]',
    "binary-event": ('452-["message",{"_placeholder":true,"num":0},{"_placeholder":true,"num":1}]'
                     f"{RS}bAQIDBA=={RS}bBQYHCA=="),
    "event-ack": '42456["message-with-ack",1,"2",{"3":[false]}]',
    "binary-event-ack": ('452-789["message-with-ack",{"_placeholder":true,"num":0},'
                         f'{{"_placeholder":true,"num":1}}]{RS}bAQIDBA=={RS}bBQYHCA=='),
    "ack": '43456[1,"2",{"3":[false]}]',
    "binary-ack": (f'462-789[{{"_placeholder":true,"num":0}},{{"_placeholder":true,"num":1}}]'
                   f"{RS}bAQIDBA=={RS}bBQYHCA=="),
    "event-object": "42{}",
    "event-bad-id": '42abc["message-with-ack",1,"2",{"3":[false]}]',
    "connect-error": '44/random,{"message":"Invalid namespace"}',
    "text-while-binary": '451-["a",{"_placeholder":true,"num":0}]' + RS + '42["b"]',
    "binary-without-header": "\x01\x02\x03",
    "reserved": '42["connect"]',
    "raw-attachment": '451-["a",{"_placeholder":true,"num":0}]' + RS + "\xff\xfe",
}

COLLAB = {
    "join": '421["join",{"room":"team:core"}]',
    "join-bad-room": '421["join",{"room":"bad room!"}]',
    "leave": '422["leave",{"room":"team:core"}]',
    "publish": '423["publish",{"room":"team:core","event":"chat","data":{"text":"hi"},"echo":true}]',
    "publish-binary": ('451-4["publish",{"room":"team:core","event":"file",'
                       f'"data":{{"name":"a.bin","bytes":{{"_placeholder":true,"num":0}}}}}}]{RS}bAQID'),
    "publish-reserved": '425["publish",{"room":"r","event":"kicked","data":null}]',
    "history": '426["history",{"room":"team:core","since":"17","limit":20}]',
    "history-numbers": '427["history",{"room":"team:core","since":17,"limit":1e3}]',
    "presence": '428["presence",{"room":"team:core"}]',
    "no-ack": '42["join",{"room":"lobby"}]',
    "custom-nsp": '40/custom,' + RS + '42/custom,9["publish",{"room":"x"}]',
    "max-ack-id": '429999999999999999999["join",{"room":"a"}]',
}


def sio() -> None:
    for name, data in SIO_SUITE.items():
        write("sio_decoder", name, data)
    for name, data in {**COLLAB, **{k: SIO_SUITE[k] for k in ("event", "binary-event", "event-ack")}}.items():
        write("collab_request", name, data)


def frame(opcode: int, payload: bytes, fin: bool = True, mask: bytes | None = None,
          rsv: int = 0) -> bytes:
    b0 = (0x80 if fin else 0) | (rsv << 4) | opcode
    n = len(payload)
    m = 0x80 if mask is not None else 0
    if n < 126:
        head = bytes([b0, m | n])
    elif n < 65536:
        head = bytes([b0, m | 126]) + struct.pack(">H", n)
    else:
        head = bytes([b0, m | 127]) + struct.pack(">Q", n)
    if mask is None:
        return head + payload
    return head + mask + bytes(c ^ mask[i % 4] for i, c in enumerate(payload))


def ws_reader() -> None:
    k = bytes([0x37, 0xFA, 0x21, 0x3D])  # RFC 6455 section 5.7's masking key
    z = bytes(4)
    server = 0x00 | (2 << 1)  # role server, max_message 1000
    client = 0x01 | (2 << 1)
    seeds = {
        # RFC 6455 section 5.7
        "rfc-masked-hello": bytes([server, 7]) + frame(1, b"Hello", mask=k),
        "rfc-unmasked-hello": bytes([client, 7]) + frame(1, b"Hello"),
        "rfc-fragmented": bytes([client, 3]) + frame(1, b"Hel", fin=False) + frame(0, b"lo"),
        "rfc-ping": bytes([client, 1]) + frame(9, b"Hello"),
        "rfc-masked-pong": bytes([server, 1]) + frame(10, b"Hello", mask=k),
        "rfc-256-binary": bytes([client, 9]) + frame(2, bytes(range(256))),
        # Engine.IO over WebSocket, as the suites send it
        "eio-probe-upgrade": bytes([server, 11]) + frame(1, b"2probe", mask=k) + frame(1, b"5", mask=k)
        + frame(1, b"4hello", mask=k) + frame(2, b"\x01\x02\x03\x04", mask=k),
        "control-inside-fragments": bytes([server, 5]) + frame(1, b"4he", fin=False, mask=z)
        + frame(9, b"p", mask=z) + frame(0, b"llo", mask=z),
        "close-normal": bytes([server, 2]) + frame(8, b"\x03\xe8bye", mask=k),
        "close-empty": bytes([client, 2]) + frame(8, b""),
        "close-bad-code": bytes([server, 2]) + frame(8, b"\x03\xed", mask=k),
        "close-one-byte": bytes([client, 2]) + frame(8, b"\x03"),
        "unmasked-from-client": bytes([server, 4]) + frame(1, b"hi"),
        "masked-from-server": bytes([client, 4]) + frame(1, b"hi", mask=k),
        "rsv-set": bytes([client, 4]) + frame(1, b"hi", rsv=4),
        "bad-utf8-split": bytes([client, 2]) + frame(1, "\u20ac".encode()[:2], fin=False)
        + frame(0, b"\xff"),
        "utf8-split-ok": bytes([client, 2]) + frame(1, "\u20ac".encode()[:1], fin=False)
        + frame(0, "\u20ac".encode()[1:]),
        "too-big": bytes([0x01, 5]) + frame(2, bytes(100)),  # max_message 16
        "too-big-64bit-header": bytes([client, 5]) + bytes([0x82, 127]) + struct.pack(">Q", 1 << 62),
        "stop-after-two": bytes([client | (2 << 3), 6]) + frame(1, b"a") + frame(1, b"b") + frame(1, b"c"),
        "continuation-without-start": bytes([client, 6]) + frame(0, b"x"),
        "fragmented-control": bytes([client, 6]) + frame(9, b"x", fin=False),
        "long-ping": bytes([client, 6]) + frame(9, bytes(126)),
        "extended-16": bytes([0x01 | (3 << 1), 17]) + frame(2, bytes(300), mask=None),
    }
    for name, data in seeds.items():
        write("ws_reader", name, data)


def json_roundtrip() -> None:
    seeds = {
        "numbers": "[0,-0,1,-1,1.5,0.1,1e21,1e-7,123e-20,113.17408141314563,5e-324,1.7976931348623157e308]",
        "integers": "[9007199254740993,-9223372036854775808,9223372036854775807,18446744073709551615,18446744073709551616]",
        "overflow": "[1e400,-1e400,1e-400]",
        "strings": '["\\u2028\\u2029","\\ud83d\\ude00","\\u0000\\b\\f\\n\\r\\t","\\"\\\\\\/","caf\u00e9"]',
        "object": '{"a":1,"b":[true,false,null],"c":{"d":"e"},"":0}',
        "duplicate-keys": '{"a":1,"a":2,"b":{"a":3}}',
        "nested": "[[[[[[[[[[[[[[[[{}]]]]]]]]]]]]]]]]",
        "whitespace": ' \t\n\r{ "a" : [ 1 , 2 ] } \n',
        "placeholder": '{"_placeholder":true,"num":0}',
        "scalar": '"just a string"',
        "trailing": "[1] [2]",
        "comment": "[1 /* no */]",
        "lone-surrogate": '"\\ud800"',
    }
    for name, data in seeds.items():
        write("json_roundtrip", name, data)


def http(seed: int, *requests: str) -> bytes:
    return bytes([seed]) + "".join(requests).encode("latin-1")


def get(target: str, extra: str = "", close: bool = False) -> str:
    return (f"GET {target} HTTP/1.1\r\nHost: localhost:3000\r\n{extra}"
            + ("Connection: close\r\n" if close else "") + "\r\n")


def post(target: str, body: str, extra: str = "") -> str:
    raw = body.encode("utf-8").decode("latin-1")
    return (f"POST {target} HTTP/1.1\r\nHost: localhost:3000\r\n{extra}"
            f"Content-Type: text/plain;charset=UTF-8\r\nContent-Length: {len(raw)}\r\n\r\n{raw}")


EIO = "/engine.io/?EIO=4&transport=polling"
SIDQ = EIO + "&sid=$SID"
UPGRADE = ("Connection: Upgrade\r\nUpgrade: websocket\r\nSec-WebSocket-Version: 13\r\n"
           "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n")
ORIGIN = "Origin: https://app.example\r\n"


def http_targets() -> None:
    requests = {
        "handshake": http(3, get(EIO)),
        "handshake-socketio": http(7, get("/socket.io/?EIO=4&transport=polling&t=NxkL3a1")),
        "post-message": http(5, post(EIO + "&sid=lv_VI97HAXpY6yYWAAAC", "4hello")),
        "pipelined": http(9, get(EIO), post(EIO + "&sid=x", f"4test1{RS}4test2"), get(EIO + "&sid=x", close=True)),
        "chunked": http(2, f"POST {EIO}&sid=x HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n"
                        "5\r\n4hell\r\n1\r\no\r\n0\r\n\r\n"),
        "upgrade": http(4, get("/engine.io/?EIO=4&transport=websocket", UPGRADE)),
        "percent": http(6, get("/engine.io/?EIO=%34&transport=poll%69ng&sid=a%2Bb+c&&=x&EIO=3")),
        "folded": http(1, "GET / HTTP/1.1\r\nX-A: one\r\n two\r\nX-a: three\r\n\r\n"),
        "http10": http(8, "GET /engine.io/?EIO=4&transport=polling HTTP/1.0\r\n\r\n"),
        "bad-length": http(2, "POST / HTTP/1.1\r\nContent-Length: 5\r\nContent-Length: 6\r\n\r\nhello"),
        "no-query": http(2, get("/engine.io/")),
        "absolute-form": http(2, get("http://localhost:3000/engine.io/?EIO=4&transport=polling")),
        "options": http(2, f"OPTIONS {EIO} HTTP/1.1\r\n{ORIGIN}Access-Control-Request-Headers: content-type\r\n\r\n"),
    }
    for name, data in requests.items():
        write("http_request", name, data)

    sessions = {
        "handshake-post-poll": [get(EIO), post(SIDQ, "4hello"), get(SIDQ)],
        "payload-binary-echo": [get(EIO), post(SIDQ, f"4hello{RS}bAQIDBA=={RS}4vol"), get(SIDQ)],
        "pending-poll-aborted": [get(EIO), get(SIDQ), "ABORT / HTTP/1.1\r\n\r\n", get(SIDQ)],
        "client-close": [get(EIO), get(SIDQ), post(SIDQ, "1"), get(SIDQ)],
        "double-get": [get(EIO), get(SIDQ), get(SIDQ + "&t=burst")],
        "app-close": [get(EIO), post(SIDQ, "4close"), get(SIDQ), get(SIDQ)],
        "app-abort": [get(EIO), post(SIDQ, "4abort"), get(SIDQ)],
        "slow-consumer": [get(EIO), post(SIDQ, "4flood"), get(SIDQ), get(SIDQ)],
        "ping-pong": [get(EIO), post(SIDQ, f"3{RS}2{RS}6"), get(SIDQ)],
        "bad-payload": [get(EIO), post(SIDQ, "abc"), get(SIDQ)],
        "octet-stream": [get(EIO), post(SIDQ, "4hi", "Content-Type: application/octet-stream\r\n")],
        "cors": [get(EIO, ORIGIN), f"OPTIONS {EIO} HTTP/1.1\r\n{ORIGIN}Access-Control-Request-Headers: content-type\r\n\r\n",
                 get(EIO, "Origin: https://evil.example\r\n")],
        "query-errors": [get("/engine.io/?transport=polling"), get("/engine.io/?EIO=abc&transport=polling"),
                         get("/engine.io/?EIO=4"), get("/engine.io/?EIO=4&transport=abc"),
                         get("/engine.io/?EIO=3&transport=polling"), post(EIO, "4x"),
                         f"PUT {EIO} HTTP/1.1\r\nContent-Length: 0\r\n\r\n",
                         get("/engine.io/?EIO=4&transport=websocket")],
        "draining": ["DRAIN / HTTP/1.1\r\n\r\n", get(EIO), "DRAIN / HTTP/1.1\r\n\r\n", get(EIO)],
        "unknown-sids": [get(EIO + "&sid=edge2.Axxxxxxxxxxxxxxxxxxx"), get(EIO + "&sid=edge1.Axxxxxxxxxxxxxxxxxxx"),
                         get(EIO + "&sid=edge1.Zxxxxxxxxxxxxxxxxxxx"), get(EIO + "&sid=nodot"),
                         get(EIO + "&sid=.Axxxxxxxxxxxxxxxxxxx")],
        "upgrade": [get(EIO), get("/engine.io/?EIO=4&transport=websocket&sid=$SID", UPGRADE),
                    get("/engine.io/?EIO=4&transport=websocket", UPGRADE)],
        "websocket-sid-over-polling": [get(EIO), get("/engine.io/?EIO=4&transport=websocket&sid=$SID")],
        "other-route": [get("/socket.io/?EIO=4&transport=polling"), get(EIO)],
        "put-on-session": [get(EIO), f"PUT {SIDQ} HTTP/1.1\r\nContent-Length: 0\r\n\r\n"],
        "connection-close": [get(EIO, close=True), get(EIO)],
    }
    for name, parts in sessions.items():
        write("engineio_server", name, "".join(parts).encode("utf-8"))


def dictionaries() -> None:
    d = FUZZ / "dict"
    d.mkdir(exist_ok=True)

    def entries(tokens) -> str:
        out = []
        for t in tokens:
            esc = "".join(c if 0x20 <= ord(c) < 0x7F and c not in '"\\' else f"\\x{ord(c):02x}"
                          for c in t)
            out.append(f'"{esc}"')
        return "\n".join(out) + "\n"

    sio_tokens = ["\x1e", "\x1eb", "\x1e4", "40", "41", "42", "43", "44", "45", "46", "1-", "2-",
                  '{"_placeholder":true,"num":0}', '"_placeholder"', '"num"', "true", "false",
                  "null", "/custom,", "/", ",", "[", "]", "{", "}", '"connect"', '"disconnect"',
                  '"message"', "bAQIDBA=="]
    collab_tokens = sio_tokens + ['"join"', '"leave"', '"publish"', '"history"', '"presence"',
                                  '"room"', '"event"', '"data"', '"echo"', '"since"', '"limit"',
                                  '"team:core"', '"kicked"']
    json_tokens = ["{", "}", "[", "]", ":", ",", '""', "true", "false", "null", "-0", "1e21",
                   "1e-7", "0.1", "\\u", "\\ud83d\\ude00", "\\u2028", "\\\\", '\\"', "e+", "E-",
                   "18446744073709551616", "9007199254740993", "1e400"]
    http_tokens = ["GET ", "POST ", "OPTIONS ", "PUT ", "ABORT ", "DRAIN ", " HTTP/1.1\r\n",
                   " HTTP/1.0\r\n", "\r\n", "\r\n\r\n", "Host: a\r\n", "Content-Length: ",
                   "Transfer-Encoding: chunked\r\n", "Connection: close\r\n",
                   "Connection: keep-alive\r\n", "Connection: Upgrade\r\n", "Upgrade: websocket\r\n",
                   "Sec-WebSocket-Version: 13\r\n", "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n",
                   "Origin: https://app.example\r\n", "Content-Type: application/octet-stream\r\n",
                   "/engine.io/", "/socket.io/", "?EIO=4", "&transport=polling",
                   "&transport=websocket", "&sid=$SID", "&sid=", "EIO=", "transport=", "sid=",
                   "%", "%00", "+", "&", "=", "4hello", "\x1e", "edge1.", "edge2.A"]
    jwt_tokens = ["eyJhbGciOiJIUzI1NiJ9", "eyJhbGciOiJub25lIn0", "eyJhbGciOiJSUzI1NiJ9", ".",
                  '"alg"', '"kid"', '"typ"', '"HS256"', '"RS256"', '"ES256"', '"none"', '"crit"',
                  '"sub"', '"exp"', '"nbf"', '"iat"', '"name"', '"keys"', '"kty"', '"RSA"', '"EC"',
                  '"oct"', '"crv"', '"P-256"', '"use"', '"sig"', '"enc"', '"n"', '"e"', '"x"',
                  '"y"', '"hs1"', '"rs1"', '"es1"', "\x00"]
    (d / "sio.dict").write_text(entries(sio_tokens))
    (d / "collab.dict").write_text(entries(collab_tokens))
    (d / "json.dict").write_text(entries(json_tokens))
    (d / "http.dict").write_text(entries(http_tokens))
    (d / "jwt.dict").write_text(entries(jwt_tokens))
    (d / "eio.dict").write_text(entries(["\x1e", "\x1eb", "b", "probe", "0{", '"sid"', "AQIDBA==", "="]))


if __name__ == "__main__":
    eio_packet()
    sio()
    ws_reader()
    json_roundtrip()
    http_targets()
    dictionaries()
