//go:build js && wasm

package main

import "syscall/js"

// pendingFuncs are the module's functions for kept edits (pending.go).
var pendingFuncs = map[string]func([]js.Value) (any, error){
	// unstored(h) → {upto, msgs}: own transactions not handed out yet.
	"unstored": withTab(func(t *Tab, _ []js.Value) (any, error) {
		msgs, upto, err := t.Unstored()
		if err != nil {
			return nil, err
		}
		list, _ := bytesList(msgs, nil)
		o := jsObj.New()
		o.Set("upto", float64(upto))
		o.Set("msgs", list)
		return o, nil
	}),
	// adopt(h, message) → {agent, patch, error?}: another tab's kept
	// transactions.
	"adopt": withTab(func(t *Tab, args []js.Value) (any, error) {
		if len(args) < 1 {
			return nil, tabErr("missing message")
		}
		b, err := bytesArg(args[0], "message")
		if err != nil {
			return nil, err
		}
		ev, agent, err := t.Adopt(b)
		if err != nil {
			return nil, err
		}
		o := jsObj.New()
		o.Set("agent", agent)
		o.Set("patch", flatPatch(ev.Patch))
		if ev.Err != nil {
			o.Set("error", ev.Err.Error())
		}
		return o, nil
	}),
	// acked(h) → {agent: seq}: acknowledged, own and adopted agents.
	"acked": withTab(func(t *Tab, _ []js.Value) (any, error) {
		o := jsObj.New()
		for a, n := range t.Acked() {
			o.Set(a, float64(n))
		}
		return o, nil
	}),
}
