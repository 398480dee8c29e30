"""A slixmpp client for Warden's interop tests, run with Debian's /usr/bin/python3.

Usage: slixmpp_client.py SCENARIO_JSON
The scenario is a JSON object: {"jid", "password", "host", "port", "mechanism"?, "ca"?,
"direct_tls"?, "steps": [...]}. Each step is one of:
  {"send": {"to", "body", "type"?}}          send a message
  {"expect_messages": N, "timeout"?: s}      wait for N messages, print each
  {"presence": true}                          send initial presence
  {"sleep": seconds}
  {"roster": true}                            get the roster, print its items
  {"subscribe": jid}                          send a presence subscription request
  {"expect_online": jid, "timeout"?: s}       wait for available presence from a bare JID
  {"wait_subscription": {"jid", "subscription"}, "timeout"?: s}  wait for a roster state
Every event is printed as one JSON line on stdout: {"event": "bound", "jid": ...},
{"event": "message", "from", "body", "type"}, {"event": "error", ...}, {"event": "done"}.
"""
import asyncio
import json
import sys

import slixmpp


def emit(**kw):
    print(json.dumps(kw, ensure_ascii=False), flush=True)


class Client(slixmpp.ClientXMPP):
    def __init__(self, scenario):
        kwargs = {}
        if scenario.get("mechanism"):
            kwargs["sasl_mech"] = scenario["mechanism"]
        super().__init__(scenario["jid"], scenario["password"], **kwargs)
        self.scenario = scenario
        self.inbox = asyncio.Queue()
        if scenario.get("ca"):
            self.ca_certs = scenario["ca"]
        self.add_event_handler("session_start", self.on_start)
        self.add_event_handler("message", self.on_message)
        self.online = set()
        self.add_event_handler("presence_available", lambda p: self.online.add(p["from"].bare))
        self.add_event_handler("failed_auth", lambda *_: self.fail("failed_auth"))
        self.add_event_handler("stream_error", lambda e: emit(event="stream_error", condition=e["stream_error"]["condition"]))

    def fail(self, what):
        emit(event="error", what=what)
        self.disconnect()

    def on_message(self, msg):
        self.inbox.put_nowait(msg)

    async def until(self, condition, timeout):
        async def poll():
            while not condition():
                await asyncio.sleep(0.05)
        await asyncio.wait_for(poll(), timeout)

    async def on_start(self, _event):
        mech = getattr(self.plugin["feature_mechanisms"], "mech", None)
        emit(event="bound", jid=str(self.boundjid), mechanism=getattr(mech, "name", None), tls=self.is_secure if hasattr(self, "is_secure") else None)
        try:
            for step in self.scenario.get("steps", []):
                if "presence" in step:
                    self.send_presence()
                elif "send" in step:
                    s = step["send"]
                    self.send_message(mto=s["to"], mbody=s["body"], mtype=s.get("type", "chat"))
                elif "expect_messages" in step:
                    for _ in range(step["expect_messages"]):
                        msg = await asyncio.wait_for(self.inbox.get(), step.get("timeout", 10))
                        err = msg["error"]["condition"] if msg["type"] == "error" else None
                        emit(event="message", frm=str(msg["from"]), body=msg["body"], type=msg["type"], error=err,
                             delay=msg["delay"]["stamp"].isoformat() if msg["delay"]["stamp"] else None)
                elif "sleep" in step:
                    await asyncio.sleep(step["sleep"])
                elif "roster" in step:
                    await self.get_roster()
                    emit(event="roster", items={j: {"subscription": self.client_roster[j]["subscription"],
                                                    "pending_out": self.client_roster[j]["pending_out"],
                                                    "name": self.client_roster[j]["name"],
                                                    "groups": list(self.client_roster[j]["groups"])}
                                                for j in self.client_roster if j != self.boundjid.bare})
                elif "subscribe" in step:
                    self.send_presence_subscription(pto=step["subscribe"])
                elif "expect_online" in step:
                    await self.until(lambda: step["expect_online"] in self.online, step.get("timeout", 10))
                    emit(event="online", jid=step["expect_online"])
                elif "wait_subscription" in step:
                    w = step["wait_subscription"]
                    await self.until(lambda: self.client_roster[w["jid"]]["subscription"] == w["subscription"], step.get("timeout", 10))
                    emit(event="subscription", jid=w["jid"], subscription=w["subscription"])
        except asyncio.TimeoutError:
            emit(event="error", what="timeout")
        emit(event="done")
        self.disconnect()


def main():
    scenario = json.loads(sys.argv[1])
    xmpp = Client(scenario)
    xmpp.register_plugin("xep_0030")
    xmpp.register_plugin("xep_0199")
    xmpp.register_plugin("xep_0203")
    if scenario.get("direct_tls"):
        xmpp.enable_direct_tls = True
        xmpp.connect((scenario["host"], scenario["port"]), use_ssl=True, force_starttls=False, disable_starttls=True)
    else:
        xmpp.connect((scenario["host"], scenario["port"]), force_starttls=True)
    xmpp.add_event_handler("disconnected", lambda *_: xmpp.loop.stop())
    xmpp.add_event_handler("connection_failed", lambda *_: (emit(event="error", what="connection_failed"), xmpp.loop.stop()))
    xmpp.loop.call_later(scenario.get("timeout", 30), lambda: (emit(event="error", what="overall_timeout"), xmpp.loop.stop()))
    xmpp.loop.run_forever()


if __name__ == "__main__":
    main()
