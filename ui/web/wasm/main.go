//go:build js && wasm

// Command wasm is the editor tab's replica: weft's crdt compiled to
// WebAssembly and exposed to the page as one global object, weft, whose
// functions take and return plain JavaScript values (see ui/PROTOCOL.md).
// Functions never throw: a failure is returned as an Error object, which
// the page's glue turns into an exception.
package main

import (
	"encoding/binary"
	"fmt"
	"math"
	"runtime"
	"unicode/utf16"
	"unicode/utf8"

	"syscall/js"

	"weft/crdt"
	"weft/vocab"
)

var (
	tabs    = map[int]*Tab{}
	next    = 1
	jsError = js.Global().Get("Error")
	jsU8    = js.Global().Get("Uint8Array")
	jsF64   = js.Global().Get("Float64Array")
	jsArray = js.Global().Get("Array")
	jsObj   = js.Global().Get("Object")
)

func main() {
	api := jsObj.New()
	for name, f := range map[string]func([]js.Value) (any, error){
		"newDoc":    newDoc,
		"free":      free,
		"text":      withTab(func(t *Tab, _ []js.Value) (any, error) { return t.doc.Text(), nil }),
		"len":       withTab(func(t *Tab, _ []js.Value) (any, error) { return t.doc.Len(), nil }),
		"editLocal": withTab(editLocal),
		"flush":     withTab(func(t *Tab, _ []js.Value) (any, error) { return bytesList(t.Flush()) }),
		"resync":    withTab(func(t *Tab, _ []js.Value) (any, error) { return bytesList(t.Resync()) }),
		"receive":   withTab(receive),
		"hello":     withTab(hello),
		"version":   withTab(version),
		"idAt":      withTab(idAt),
		"posOf":     withTab(posOf),
		"presence":  withTab(presence),
		"saved":     withTab(func(t *Tab, _ []js.Value) (any, error) { return t.Saved(), nil }),
		"unsaved":   withTab(func(t *Tab, _ []js.Value) (any, error) { return float64(t.Unsaved()), nil }),
		"stats":     stats,
		// materialize reads the history of a document opened from a
		// snapshot (crdt.OpenSnapshot): the page calls it when idle after
		// showing the text, so that the first keystroke does not pay it.
		"materialize": withTab(func(t *Tab, _ []js.Value) (any, error) { return nil, t.doc.Materialize() }),
	} {
		api.Set(name, js.FuncOf(wrap(name, f)))
	}
	for name, f := range pendingFuncs { // pending_js.go
		api.Set(name, js.FuncOf(wrap(name, f)))
	}
	js.Global().Set("weft", api)
	warmUp() // warm.go
	if cb := js.Global().Get("weftReady"); cb.Type() == js.TypeFunction {
		cb.Invoke()
	}
	select {}
}

// wrap turns f into a JS function that returns f's value, or an Error
// (never throws, never lets a Go panic kill the module).
func wrap(name string, f func([]js.Value) (any, error)) func(js.Value, []js.Value) any {
	return func(_ js.Value, args []js.Value) (out any) {
		defer func() {
			if r := recover(); r != nil {
				out = jsError.New(fmt.Sprintf("weft.%s: internal error: %v", name, r))
			}
		}()
		v, err := f(args)
		if err != nil {
			return jsError.New(fmt.Sprintf("weft.%s: %v", name, err))
		}
		return v
	}
}

func withTab(f func(*Tab, []js.Value) (any, error)) func([]js.Value) (any, error) {
	return func(args []js.Value) (any, error) {
		if len(args) < 1 {
			return nil, tabErr("missing handle")
		}
		h, err := intArg(args, 0, "handle")
		if err != nil {
			return nil, err
		}
		t, ok := tabs[h]
		if !ok {
			return nil, tabErr("unknown handle %d", h)
		}
		return f(t, args[1:])
	}
}

func intArg(args []js.Value, i int, what string) (int, error) {
	if i >= len(args) || args[i].Type() != js.TypeNumber {
		return 0, tabErr("%s: want a number", what)
	}
	f := args[i].Float()
	if f != math.Trunc(f) || f < 0 || f > math.MaxInt32 {
		return 0, tabErr("%s: %v is not a non-negative integer", what, f)
	}
	return int(f), nil
}

func strArg(args []js.Value, i int, what string) (string, error) {
	if i >= len(args) || args[i].Type() != js.TypeString {
		return "", tabErr("%s: want a string", what)
	}
	s := args[i].String()
	if !utf8.ValidString(s) {
		return "", tabErr("%s: not valid Unicode", what)
	}
	return s, nil
}

func bytesArg(v js.Value, what string) ([]byte, error) {
	if !v.InstanceOf(jsU8) {
		return nil, tabErr("%s: want a Uint8Array", what)
	}
	n := v.Length()
	if n > maxMessage {
		return nil, tabErr("%s: %d bytes (at most %d)", what, n, maxMessage)
	}
	b := make([]byte, n)
	js.CopyBytesToGo(b, v)
	return b, nil
}

func toU8(b []byte) js.Value {
	u := jsU8.New(len(b))
	js.CopyBytesToJS(u, b)
	return u
}

func bytesList(bs [][]byte, err error) (any, error) {
	if err != nil {
		return nil, err
	}
	arr := jsArray.New(len(bs))
	for i, b := range bs {
		arr.SetIndex(i, toU8(b))
	}
	return arr, nil
}

// stats() → the module's memory figures, for diagnostics and benchmarks
func stats([]js.Value) (any, error) {
	var m runtime.MemStats
	runtime.ReadMemStats(&m)
	return map[string]any{
		"heapAlloc":  float64(m.HeapAlloc),
		"heapSys":    float64(m.HeapSys),
		"numGC":      float64(m.NumGC),
		"pauseTotal": float64(m.PauseTotalNs) / 1e6,
		"lastPause":  float64(m.PauseNs[(m.NumGC+255)%256]) / 1e6,
	}, nil
}

// newDoc(agent, docHex?) → handle
func newDoc(args []js.Value) (any, error) {
	agent, err := strArg(args, 0, "agent")
	if err != nil {
		return nil, err
	}
	var id vocab.DocID
	if len(args) > 1 && args[1].Type() != js.TypeUndefined {
		s, err := strArg(args, 1, "document ID")
		if err != nil {
			return nil, err
		}
		if id, err = vocab.ParseDocID(s); err != nil {
			return nil, err
		}
	}
	t, err := NewTab(agent, id)
	if err != nil {
		return nil, err
	}
	h := next
	next++
	tabs[h] = t
	return h, nil
}

func free(args []js.Value) (any, error) {
	h, err := intArg(args, 0, "handle")
	if err != nil {
		return nil, err
	}
	delete(tabs, h)
	return nil, nil
}

func editArgs(args []js.Value) (pos, del int, text string, err error) {
	if pos, err = intArg(args, 0, "pos"); err != nil {
		return
	}
	if del, err = intArg(args, 1, "del"); err != nil {
		return
	}
	text, err = strArg(args, 2, "text")
	return
}

// editLocal(h, pos, del, text): the edit, sent by the next flush
func editLocal(t *Tab, args []js.Value) (any, error) {
	pos, del, text, err := editArgs(args)
	if err != nil {
		return nil, err
	}
	t.SetNow(int64(js.Global().Get("Date").Call("now").Float()))
	return nil, t.Edit(pos, del, text)
}

// receive(h, message, wantPatch) → event (see ui/PROTOCOL.md)
func receive(t *Tab, args []js.Value) (any, error) {
	if len(args) < 1 {
		return nil, tabErr("missing message")
	}
	b, err := bytesArg(args[0], "message")
	if err != nil {
		return nil, err
	}
	want := len(args) < 2 || args[1].Truthy()
	ev, err := t.Receive(b)
	if err != nil {
		return nil, err
	}
	o := jsObj.New()
	o.Set("kind", ev.Kind)
	switch ev.Kind {
	case "txns":
		if want {
			o.Set("patch", flatPatch(ev.Patch))
		}
		if ev.Err != nil {
			o.Set("error", ev.Err.Error())
		}
	case "fail":
		o.Set("reason", ev.Reason)
	case "ack":
		o.Set("saved", ev.Saved)
	case "status":
		o.Set("saved", ev.Saved)
		o.Set("peers", ev.Peers)
		o.Set("hasRelay", ev.HasRelay)
		o.Set("relay", ev.Relay)
	case "presence":
		p := ev.Presence
		o.Set("agent", p.Agent)
		o.Set("name", p.Name)
		o.Set("color", p.Color)
		o.Set("anchor", []any{p.AnchorAgent, float64(p.AnchorSeq)})
		o.Set("head", []any{p.HeadAgent, float64(p.HeadSeq)})
		o.Set("seq", float64(p.Seq))
	}
	return o, nil
}

// flatPatch packs a patch for the page in two values instead of one
// object per change: nums holds (pos, del, insertUTF16Len) per change, in
// code points except the last, and text is every insert joined.
func flatPatch(p crdt.Patch) js.Value {
	nums := make([]float64, 0, 3*len(p))
	var text []byte
	for _, c := range p {
		n := 0
		for _, r := range c.Insert {
			n += utf16.RuneLen(r)
		}
		nums = append(nums, float64(c.Pos), float64(c.Delete), float64(n))
		text = append(text, c.Insert...)
	}
	raw := make([]byte, 0, 8*len(nums))
	for _, x := range nums {
		raw = binary.LittleEndian.AppendUint64(raw, math.Float64bits(x))
	}
	o := jsObj.New()
	o.Set("nums", jsF64.New(toU8(raw).Get("buffer")))
	o.Set("text", string(text))
	return o
}

// hello(h, docHex?) → the hello message
func hello(t *Tab, args []js.Value) (any, error) {
	if len(args) > 0 && args[0].Type() != js.TypeUndefined {
		s, err := strArg(args, 0, "document ID")
		if err != nil {
			return nil, err
		}
		id, err := vocab.ParseDocID(s)
		if err != nil {
			return nil, err
		}
		if !t.id.IsZero() && t.id != id {
			return nil, tabErr("this replica is of document %s, not %s", t.id, id)
		}
		t.id = id
	}
	if t.id.IsZero() {
		return nil, tabErr("no document ID yet")
	}
	b, err := t.Hello()
	if err != nil {
		return nil, err
	}
	return toU8(b), nil
}

func version(t *Tab, _ []js.Value) (any, error) {
	o := jsObj.New()
	for a, n := range t.doc.Version() {
		o.Set(a, float64(n))
	}
	return o, nil
}

// idAt(h, pos) → [agent, seq]; ["", 0] stands for the document start
func idAt(t *Tab, args []js.Value) (any, error) {
	pos, err := intArg(args, 0, "pos")
	if err != nil {
		return nil, err
	}
	id, ok := t.doc.AnchorAt(pos)
	if !ok {
		return nil, fmt.Errorf("%w: position %d in a text of %d code points", crdt.ErrPosition, pos, t.doc.Len())
	}
	return []any{id.Agent, float64(id.Seq)}, nil
}

// posOf(h, [agent, seq]) → pos, or -1 for an item this replica lacks
func posOf(t *Tab, args []js.Value) (any, error) {
	if len(args) < 1 || !args[0].InstanceOf(jsArray) || args[0].Length() != 2 {
		return nil, tabErr("id: want [agent, seq]")
	}
	agent, err := strArg([]js.Value{args[0].Index(0)}, 0, "agent")
	if err != nil {
		return nil, err
	}
	f := args[0].Index(1)
	if f.Type() != js.TypeNumber || f.Float() < 0 || f.Float() != math.Trunc(f.Float()) || f.Float() > crdt.MaxSeq {
		return nil, tabErr("seq: want a non-negative integer")
	}
	pos, ok := t.doc.PosOf(crdt.ID{Agent: agent, Seq: uint64(f.Float())})
	if !ok {
		return -1, nil
	}
	return pos, nil
}

// presence(h, name, color, anchor, head) → the presence message
func presence(t *Tab, args []js.Value) (any, error) {
	if t.id.IsZero() {
		return nil, tabErr("no document ID yet")
	}
	name, err := strArg(args, 0, "name")
	if err != nil {
		return nil, err
	}
	color, err := strArg(args, 1, "color")
	if err != nil {
		return nil, err
	}
	anchor, err := intArg(args, 2, "anchor")
	if err != nil {
		return nil, err
	}
	head, err := intArg(args, 3, "head")
	if err != nil {
		return nil, err
	}
	b, err := t.Presence(name, color, anchor, head)
	if err != nil {
		return nil, err
	}
	return toU8(b), nil
}
