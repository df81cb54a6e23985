"""A real WebSocket peer for relaysim's ws server (core/tests/ws_real_peer.rs).

Uses the `websockets` library's threaded client, as upstream's client helper
does: a receiver thread and a sending main thread on one connection. Against
the server at ws://127.0.0.1:PORT/ws it

1. sends a burst of `params`;
2. asks for a swap from the server's copy and, the moment `swap_ready`
   arrives, uploads a multi-MB `write_audio` payload while the server pushes
   the mirror and the stems (fragmented on the server's side);
3. sends an orphan `write_audio` header (no payload), then more `params`;
4. waits until every command is answered and every push has arrived, and
   closes normally.

It prints one JSON summary line on stdout and exits 0 when everything held,
1 otherwise (the reasons are in the summary's "problems").
"""

import json
import sys
import threading
import zlib

from websockets.exceptions import ConnectionClosed
from websockets.sync.client import connect

MIB = 1024 * 1024
UPLOAD_BYTES = 3 * MIB
WAIT_S = 30.0


def pattern(n):
    block = bytes((i * 7 + 3) & 0xFF for i in range(4096))
    return (block * (n // len(block) + 1))[:n]


def main(port):
    problems = []
    sent = []  # (seq, type)
    answers = {}  # seq -> message
    order = []  # seqs in arrival order
    pushes = []  # dicts
    state = {"swap_ready": None, "closed": None}
    cond = threading.Condition()

    ws = connect(
        f"ws://127.0.0.1:{port}/ws",
        max_size=100 * MIB,
        open_timeout=10,
        close_timeout=5,
    )

    def receive():
        expect = None
        while True:
            try:
                m = ws.recv()
            except ConnectionClosed as e:
                with cond:
                    state["closed"] = e.rcvd.code if e.rcvd else None
                    cond.notify_all()
                return
            with cond:
                if isinstance(m, str):
                    d = json.loads(m)
                    if expect is not None:
                        problems.append(f"{d['type']} arrived where the binary of {expect['type']} was due")
                        expect = None
                    if d["type"] in ("mirror", "stem", "slice"):
                        expect = d
                    elif d["type"] == "swap_ready":
                        state["swap_ready"] = d["swap"]
                    elif d.get("seq") is not None:
                        if d["seq"] in answers:
                            problems.append(f"seq {d['seq']} answered twice")
                        answers[d["seq"]] = d
                        order.append(d["seq"])
                    else:
                        problems.append(f"unexpected message {d}")
                else:
                    if expect is None:
                        problems.append(f"binary of {len(m)} bytes with no push header")
                    else:
                        intact = len(m) == expect["bytes"] and zlib.crc32(m) == expect["crc"]
                        if expect["type"] != "slice":
                            pushes.append(
                                {
                                    "what": expect["type"],
                                    "swap": expect.get("swap"),
                                    "part": expect.get("part", "mirror"),
                                    "bytes": len(m),
                                    "intact": intact,
                                }
                            )
                        elif not intact:
                            problems.append(f"slice {expect['n']} corrupt")
                        expect = None
                cond.notify_all()

    receiver = threading.Thread(target=receive, daemon=True)
    receiver.start()

    seq = 0

    def command(obj):
        nonlocal seq
        seq += 1
        obj["seq"] = seq
        with cond:
            sent.append((seq, obj["type"]))
        ws.send(json.dumps(obj))
        return seq

    for k in range(20):
        command({"type": "params", "knob": k})
    swap_seq = command({"type": "swap_source", "use_server_source": True})
    with cond:
        if not cond.wait_for(lambda: state["swap_ready"] is not None, timeout=WAIT_S):
            problems.append("no swap_ready")
    # The server is pushing the mirror and stems now: upload against them.
    upload = pattern(UPLOAD_BYTES)
    upload_seq = command({"type": "write_audio", "bytes": len(upload)})
    ws.send(upload)
    for k in range(10):
        command({"type": "params", "knob": 100 + k})
    orphan_seq = command({"type": "write_audio", "bytes": 1000})
    after_orphan = command({"type": "params", "knob": 200})
    for k in range(5):
        command({"type": "params", "knob": 300 + k})

    def done():
        mine = [p for p in pushes if p["swap"] == state["swap_ready"]]
        return len(answers) == len(sent) and len(mine) == 3

    with cond:
        if not cond.wait_for(lambda: done() or state["closed"] is not None, timeout=WAIT_S):
            problems.append("timed out waiting for answers and pushes")
    ws.close()
    receiver.join(timeout=10)

    with cond:
        lost = [s for s, _ in sent if s not in answers]
        if lost:
            problems.append(f"unanswered: {lost}")
        if order != sorted(order):
            problems.append("answers out of order")
        if state["closed"] not in (None, 1000):
            problems.append(f"server closed the session with {state['closed']}")
        up = answers.get(upload_seq, {})
        upload_ok = (
            up.get("type") == "write_audio_applied"
            and up.get("bytes") == len(upload)
            and up.get("crc") == zlib.crc32(upload)
        )
        if not upload_ok:
            problems.append(f"upload answer {up}")
        orphan = answers.get(orphan_seq, {})
        if orphan.get("type") != "audio_write_failed":
            problems.append(f"orphan header answer {orphan}")
        if answers.get(after_orphan, {}).get("type") != "params_ack":
            problems.append("the params after the orphan header was not acknowledged")
        if answers.get(swap_seq, {}).get("type") != "swap_accepted":
            problems.append("swap not accepted")
        mine = [p for p in pushes if p["swap"] == state["swap_ready"]]
        if sorted(p["part"] for p in mine) != ["instruments", "mirror", "vocals"]:
            problems.append(f"pushes {mine}")
        if not all(p["intact"] for p in pushes):
            problems.append("a push arrived with other bytes than announced")
        summary = {
            "commands": len(sent),
            "answered": len(answers),
            "upload_bytes": len(upload),
            "upload_ok": upload_ok,
            "orphan": orphan,
            "pushes": mine,
            "closed": state["closed"],
            "problems": problems,
        }
    print(json.dumps(summary))
    return 0 if not problems else 1


if __name__ == "__main__":
    sys.exit(main(int(sys.argv[1])))
