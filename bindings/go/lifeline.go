// Package lifeline is the Go binding of lifeline's C ABI (lifeline.h), through cgo.
//
// A Client stays connected to a lifeline server, heartbeats, and reconnects by
// itself; its events arrive on a channel (Events) fed by a goroutine that polls
// the library. Methods are safe for concurrent use, except Close, which must
// not race the others.
package lifeline

/*
#cgo CFLAGS: -I${SRCDIR}/../../include
#cgo LDFLAGS: -llifeline
#include <stdlib.h>
#include "lifeline/lifeline.h"
*/
import "C"

import (
	"fmt"
	"runtime"
	"time"
	"unsafe"
)

// Error is a call the library refused: Status is the LL_ERR_* code, Msg the library's message.
type Error struct {
	Status int
	Msg    string
}

func (e *Error) Error() string { return e.Msg }

// ErrTimeout is LL_ERR_TIMEOUT's status: Poll found nothing in time.
const ErrTimeout = int(C.LL_ERR_TIMEOUT)

// call runs one library call and reads its message on the same OS thread:
// ll_last_error is per thread, and a goroutine may move between threads
// from one cgo call to the next.
func call(f func() C.int) error {
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	if st := f(); st != C.LL_OK {
		return &Error{Status: int(st), Msg: C.GoString(C.ll_last_error())}
	}
	return nil
}

// State is a client's connection state.
type State int

const (
	Disconnected State = iota
	Connecting
	Online
	Reconnecting
	Stopped
)

func (s State) String() string { return C.GoString(C.ll_state_name(C.int(s))) }

// EventType says what an Event carries.
type EventType int

const (
	StateEvent    EventType = C.LL_EVENT_STATE
	DataEvent     EventType = C.LL_EVENT_DATA
	PresenceEvent EventType = C.LL_EVENT_PRESENCE
	ListEvent     EventType = C.LL_EVENT_LIST
	OverflowEvent EventType = C.LL_EVENT_OVERFLOW
)

// Event is one event, copied out of the library.
type Event struct {
	Type                         EventType
	State, Previous              State
	ID, Remote, Kind, Reason     string
	Server, Instance, Node       string
	Degraded                     bool // a list: the answering cluster node cannot reach Redis
	Data                         []byte
	Seq, AtMs, Count, OnlineSize int64
	Entries                      []Entry
}

// Entry is one client of an online list.
type Entry struct {
	ID, Remote, Labels, Node string
	RttUs, SinceMs           int64
}

func copyEvent(ev *C.ll_event) Event {
	s := func(f C.int) string { return C.GoString(C.ll_event_str(ev, f)) }
	n := func(f C.int) int64 { return int64(C.ll_event_int(ev, f)) }
	e := Event{Type: EventType(C.ll_event_type(ev)), ID: s(C.LL_FIELD_ID), Remote: s(C.LL_FIELD_REMOTE),
		Kind: s(C.LL_FIELD_KIND), Reason: s(C.LL_FIELD_REASON), Server: s(C.LL_FIELD_SERVER),
		Instance: s(C.LL_FIELD_INSTANCE), Node: s(C.LL_FIELD_NODE), Degraded: n(C.LL_FIELD_DEGRADED) != 0,
		Seq: n(C.LL_FIELD_SEQ), AtMs: n(C.LL_FIELD_AT_MS),
		Count: n(C.LL_FIELD_COUNT), OnlineSize: n(C.LL_FIELD_ONLINE)}
	e.State, e.Previous = State(n(C.LL_FIELD_STATE)), State(n(C.LL_FIELD_PREVIOUS_STATE))
	var length C.size_t
	if p := C.ll_event_data(ev, &length); p != nil {
		e.Data = C.GoBytes(unsafe.Pointer(p), C.int(length))
	}
	for i := C.size_t(0); i < C.ll_event_count(ev); i++ {
		es := func(f C.int) string { return C.GoString(C.ll_event_entry_str(ev, i, f)) }
		e.Entries = append(e.Entries, Entry{ID: es(C.LL_FIELD_ID), Remote: es(C.LL_FIELD_REMOTE),
			Labels: es(C.LL_FIELD_LABELS), Node: es(C.LL_FIELD_NODE), RttUs: int64(C.ll_event_entry_int(ev, i, C.LL_FIELD_RTT_US)),
			SinceMs: int64(C.ll_event_entry_int(ev, i, C.LL_FIELD_SINCE_MS))})
	}
	return e
}

// Client stays connected to a lifeline server.
type Client struct {
	h *C.ll_client
}

// NewClient makes a client and sets its options (keys as in lifeline.h:
// "servers", "id", "label", "interval", ...). Start it with Start.
func NewClient(options ...[2]string) (*Client, error) {
	c := &Client{}
	if err := call(func() C.int { return C.ll_client_new(&c.h) }); err != nil {
		return nil, err
	}
	for _, o := range options {
		if err := c.Set(o[0], o[1]); err != nil {
			c.Close()
			return nil, err
		}
	}
	return c, nil
}

// Set sets one option before Start.
func (c *Client) Set(key, value string) error {
	k, v := C.CString(key), C.CString(value)
	defer C.free(unsafe.Pointer(k))
	defer C.free(unsafe.Pointer(v))
	return call(func() C.int { return C.ll_client_set(c.h, k, v) })
}

// Start connects, on a thread of the library's own.
func (c *Client) Start() error { return call(func() C.int { return C.ll_client_start(c.h) }) }

// Stop says BYE and stops reconnecting, waiting up to `wait` for the BYE to be written.
func (c *Client) Stop(wait time.Duration) error {
	return call(func() C.int { return C.ll_client_stop(c.h, C.int(wait.Milliseconds())) })
}

// Send queues DATA to the server; an error if not online.
func (c *Client) Send(data []byte) error {
	p := C.CBytes(data)
	defer C.free(p)
	return call(func() C.int { return C.ll_client_send(c.h, p, C.size_t(len(data))) })
}

// Poll returns the next event, or nil after `wait` (negative: wait for ever).
func (c *Client) Poll(wait time.Duration) (*Event, error) {
	var ev *C.ll_event
	ms := C.int(-1)
	if wait >= 0 {
		ms = C.int(wait.Milliseconds())
	}
	err := call(func() C.int { return C.ll_client_poll(c.h, ms, &ev) })
	if e, ok := err.(*Error); ok && e.Status == ErrTimeout {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	defer C.ll_event_free(ev)
	e := copyEvent(ev)
	return &e, nil
}

// Events delivers events on a channel until `done` is closed (or the client is closed).
func (c *Client) Events(done <-chan struct{}) <-chan Event {
	out := make(chan Event, 64)
	go func() {
		defer close(out)
		for {
			select {
			case <-done:
				return
			default:
			}
			ev, err := c.Poll(100 * time.Millisecond)
			if err != nil {
				return
			}
			if ev != nil {
				select {
				case out <- *ev:
				case <-done:
					return
				}
			}
		}
	}()
	return out
}

// State is the client's connection state now.
func (c *Client) State() (State, error) {
	var s C.int
	err := call(func() C.int { return C.ll_client_get_state(c.h, &s) })
	return State(s), err
}

// Close stops (if running) and frees the client.
func (c *Client) Close() {
	if c.h != nil {
		C.ll_client_destroy(c.h)
		c.h = nil
	}
}

// Version is the library's version.
func Version() string { return fmt.Sprint(C.GoString(C.ll_version())) }
