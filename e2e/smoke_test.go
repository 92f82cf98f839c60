package e2e

import (
	"testing"

	"github.com/resedge/resedge/internal/restest"
)

func TestSmoke_SubscribeModelAndReceiveChange(t *testing.T) {
	s := restest.Start(t)
	c := s.Connect()
	c.Version("1.2.3")
	creq := c.Request("subscribe.test.model", nil)
	reqs := s.GetRequests(2)
	reqs.BySubject(t, "access.test.model").RespondSuccess(map[string]any{"get": true})
	reqs.BySubject(t, "get.test.model").RespondModel(map[string]any{"string": "foo", "int": 42})
	creq.GetResponse().AssertResult(map[string]any{"models": map[string]any{"test.model": map[string]any{"string": "foo", "int": 42}}})

	s.Event("test.model", "change", map[string]any{"values": map[string]any{"string": "bar", "int": 42}})
	c.GetEvent().AssertEventName("test.model.change").AssertData(map[string]any{"values": map[string]any{"string": "bar"}})
}
