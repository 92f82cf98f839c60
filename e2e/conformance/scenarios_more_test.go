package conformance

func init() {
	scenarios = append(scenarios, moreScenarios...)
}

var moreScenarios = []scenario{
	{
		name: "events/references-in-change-and-add",
		replies: map[string]string{
			"access.test.m": accessGranted,
			"get.test.m":    `{"result":{"model":{"ref":null}}}`,
			"access.test.c": accessGranted,
			"get.test.c":    `{"result":{"collection":[]}}`,
			"get.test.a":    `{"result":{"model":{"name":"a","b":{"rid":"test.b"}}}}`,
			"get.test.b":    `{"result":{"collection":[{"rid":"test.a"},"x"]}}`,
		},
		steps: []step{
			send(0, req(1, "version", `{"protocol":"1.2.3"}`)),
			send(0, req(2, "subscribe.test.m")),
			send(0, req(3, "subscribe.test.c")),
			publish("event.test.m.change", `{"values":{"ref":{"rid":"test.a"}}}`),
			publish("event.test.c.add", `{"idx":0,"value":{"rid":"test.b"}}`),
			publish("event.test.c.add", `{"idx":1,"value":{"rid":"test.a"}}`),
			publish("event.test.m.change", `{"values":{"ref":{"rid":"test.a","soft":true}}}`),
			publish("event.test.c.remove", `{"idx":0}`),
			publish("event.test.c.remove", `{"idx":0}`),
			publish("event.test.a.change", `{"values":{"name":"A"}}`),
			send(0, req(4, "unsubscribe.test.b")),
			send(0, req(5, "subscribe.test.m")),
		},
	},
	{
		name: "reset/diff-into-events",
		sequence: map[string][]string{
			"get.test.m": {`{"result":{"model":{"a":1,"b":2,"c":3}}}`, `{"result":{"model":{"a":1,"b":20,"d":4}}}`},
			"get.test.c": {`{"result":{"collection":[1,2,3,4,5]}}`, `{"result":{"collection":[0,2,3,6,5,7]}}`},
			"get.test.x": {`{"result":{"model":{"a":1}}}`, notFound},
			"get.test.y": {`{"result":{"model":{"a":1}}}`, `{"result":{"collection":[1]}}`},
		},
		replies: map[string]string{
			"access.test.m": accessGranted,
			"access.test.c": accessGranted,
			"access.test.x": accessGranted,
			"access.test.y": accessGranted,
		},
		steps: []step{
			send(0, req(1, "version", `{"protocol":"1.2.3"}`)),
			send(0, req(2, "subscribe.test.m")),
			send(0, req(3, "subscribe.test.c")),
			send(0, req(4, "subscribe.test.x")),
			send(0, req(5, "subscribe.test.y")),
			publish("system.reset", `{"resources":["test.m","test.c"]}`),
			publish("system.reset", `{"resources":["test.x","test.y"]}`),
			publish("system.reset", `{"resources":["test.*"],"access":["test.>"]}`),
		},
	},
	{
		name: "reaccess/denied-unsubscribes-direct-only",
		sequence: map[string][]string{
			"access.test.m": {accessGranted, accessDenied},
		},
		replies: map[string]string{
			"get.test.m":         modelFoo,
			"access.test.parent": accessGranted,
			"get.test.parent":    `{"result":{"model":{"m":{"rid":"test.m"}}}}`,
		},
		steps: []step{
			send(0, req(1, "version", `{"protocol":"1.2.3"}`)),
			send(0, req(2, "subscribe.test.m")),
			send(0, req(3, "subscribe.test.parent")),
			publish("event.test.m.reaccess", ``),
			publish("event.test.m.change", `{"values":{"int":1}}`),
			send(0, req(4, "unsubscribe.test.m")),
		},
	},
	{
		name:    "token-reset",
		clients: 2,
		// Keyed by the full subjects: an auth request left to time out
		// would make the transcript depend on step timing.
		replies: map[string]string{
			"auth.test.login.in": `{"result":null}`,
			"auth.test.renew.x":  `{"result":null}`,
		},
		steps: []step{
			send(0, req(1, "auth.test.login.in")),
			send(1, req(1, "auth.test.login.in")),
			publish("conn.{cid:0}.token", `{"token":{"u":1},"tid":"10"}`),
			publish("conn.{cid:1}.token", `{"token":{"u":2},"tid":"20"}`),
			publish("system.tokenReset", `{"tids":["10"],"subject":"auth.test.renew.x"}`),
			publish("system.tokenReset", `{"tids":[],"subject":"auth.test.renew.x"}`),
			publish("system.tokenReset", `{"tids":["20"]}`),
		},
	},
	{
		name: "query/normalization-and-non-query",
		replies: map[string]string{
			"access.test.q":  accessGranted,
			"get.test.q":     `{"result":{"model":{"n":1}}}`,
			"access.test.qq": accessGranted,
			"get.test.qq":    `{"result":{"collection":["a"],"query":"p=1"}}`,
			"q.test.model":   `{"result":{"model":{"n":2}}}`,
		},
		steps: []step{
			send(0, req(1, "version", `{"protocol":"1.2.3"}`)),
			send(0, req(2, "subscribe.test.q?foo=bar")),
			publish("event.test.q.change", `{"values":{"n":3}}`),
			send(0, req(3, "subscribe.test.qq")),
			publish("event.test.qq.add", `{"idx":0,"value":"b"}`),
			publish("event.test.qq.query", `{"subject":"q.test.model"}`),
			send(0, req(4, "get.test.qq?p=1")),
		},
	},
	{
		name: "call/without-subscription-and-cached-access",
		sequence: map[string][]string{
			"access.test.m": {`{"error":{"code":"system.timeout","message":"Request timeout"}}`, `{"result":{"get":true,"call":"a"}}`},
		},
		replies: map[string]string{
			"get.test.m":    modelFoo,
			"call.test.m.a": `{"result":1}`,
		},
		steps: []step{
			send(0, req(1, "version", `{"protocol":"1.2.3"}`)),
			send(0, req(2, "call.test.m.a")),
			send(0, req(3, "call.test.m.a")),
			send(0, req(4, "subscribe.test.m")),
			send(0, req(5, "call.test.m.a")),
			send(0, req(6, "call.test.m.b")),
			send(0, req(7, "auth.test.m.a")),
		},
	},
	{
		name: "call/error-data-null-and-resource-shapes",
		replies: map[string]string{
			"access.test.m":   accessGranted,
			"call.test.m.nul": `{"error":{"code":"custom.err","message":"m","data":null}}`,
			"call.test.m.raw": `{"result":  { "a" : [1, 2] } }`,
			"call.test.m.nil": `{"result":null}`,
		},
		steps: []step{
			send(0, req(1, "version", `{"protocol":"1.2.3"}`)),
			send(0, req(2, "call.test.m.nul")),
			send(0, req(3, "call.test.m.raw")),
			send(0, req(4, "call.test.m.nil")),
		},
	},
	{
		name: "unsubscribe/errors",
		replies: map[string]string{
			"access.test.m": accessGranted,
			"get.test.m":    `{"result":{"model":{"r":{"rid":"test.r"}}}}`,
			"get.test.r":    `{"result":{"model":{}}}`,
		},
		steps: []step{
			send(0, req(1, "version", `{"protocol":"1.2.3"}`)),
			send(0, req(2, "unsubscribe.test.m")),
			send(0, req(3, "subscribe.test.m")),
			send(0, req(4, "unsubscribe.test.r")),
			send(0, req(5, "unsubscribe.test.m", `{"count":0}`)),
			send(0, req(6, "unsubscribe.test.m", `{"count":"x"}`)),
			send(0, req(7, "unsubscribe.test.m", `[]`)),
			send(0, req(8, "unsubscribe.test.m", `{}`)),
		},
	},
}
