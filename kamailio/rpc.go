package kamailio

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/netip"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"
)

// RPC speaks JSON-RPC to Kamailio's jsonrpcs module over its FIFO
// transport. Why this transport: it is in Debian's kamailio package, its
// answers are JSON (kamcmd prints a format of its own, and binrpc would be a
// binary protocol to hand-roll), and a FIFO, unlike jsonrpcs's datagram
// socket, has no size limit for the answers of the dump commands.
//
// A call writes the request (one write, below PIPE_BUF, so it is never
// interleaved with another writer's) to Kamailio's FIFO, naming a reply
// FIFO this process creates in ReplyDir (jsonrpcs's fifo_reply_dir), and
// reads the answer from it.
type RPC struct {
	FIFO     string
	ReplyDir string
	Timeout  time.Duration // per call; 0: 10 s

	mu  sync.Mutex // one call at a time: Kamailio answers them in turn anyway
	seq atomic.Int64
}

// ErrUnreachable: Kamailio is not running (no reader on its FIFO) or did
// not answer in time.
var ErrUnreachable = errors.New("kamailio is not reachable")

// RPCError is an error answer of a method.
type RPCError struct {
	Method  string
	Code    int
	Message string
}

func (e *RPCError) Error() string {
	return fmt.Sprintf("kamailio %s: %d %s", e.Method, e.Code, e.Message)
}

// Call runs method with params and decodes its result into result (nil:
// ignored).
func (r *RPC) Call(ctx context.Context, method string, result any, params ...any) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	timeout := r.Timeout
	if timeout <= 0 {
		timeout = 10 * time.Second
	}
	deadline := time.Now().Add(timeout)
	if d, ok := ctx.Deadline(); ok && d.Before(deadline) {
		deadline = d
	}
	name := fmt.Sprintf("switchboard-kamailio-%d-%d", os.Getpid(), r.seq.Add(1))
	replyPath := filepath.Join(r.ReplyDir, name)
	os.Remove(replyPath)
	if err := syscall.Mkfifo(replyPath, 0o600); err != nil {
		return fmt.Errorf("reply fifo: %w", err)
	}
	defer os.Remove(replyPath)
	// Opened for reading and writing, so that reading waits for Kamailio's
	// answer instead of seeing end-of-file while no writer has it open; and
	// non-blocking, so that a read deadline applies.
	reply, err := os.OpenFile(replyPath, os.O_RDWR|syscall.O_NONBLOCK, 0)
	if err != nil {
		return fmt.Errorf("reply fifo: %w", err)
	}
	defer reply.Close()

	if params == nil {
		params = []any{}
	}
	req, err := json.Marshal(map[string]any{"jsonrpc": "2.0", "method": method, "params": params, "reply_name": name, "id": 1})
	if err != nil {
		return err
	}
	req = append(req, '\n')
	// Non-blocking: with no reader (Kamailio stopped), opening fails at once
	// (ENXIO) instead of hanging.
	w, err := os.OpenFile(r.FIFO, os.O_WRONLY|syscall.O_NONBLOCK, 0)
	if err != nil {
		return fmt.Errorf("%w: %s: %v", ErrUnreachable, method, err)
	}
	w.SetWriteDeadline(deadline)
	_, err = w.Write(req)
	w.Close()
	if err != nil {
		return fmt.Errorf("%w: %s: %v", ErrUnreachable, method, err)
	}

	if err := reply.SetReadDeadline(deadline); err != nil {
		return err
	}
	var answer struct {
		Result json.RawMessage `json:"result"`
		Error  *struct {
			Code    int    `json:"code"`
			Message string `json:"message"`
		} `json:"error"`
	}
	done := make(chan error, 1)
	go func() { done <- json.NewDecoder(reply).Decode(&answer) }()
	select {
	case err = <-done:
	case <-ctx.Done():
		reply.SetReadDeadline(time.Now())
		<-done
		return ctx.Err()
	}
	if errors.Is(err, os.ErrDeadlineExceeded) {
		return fmt.Errorf("%w: %s: no answer in %s", ErrUnreachable, method, timeout)
	}
	if err != nil {
		return fmt.Errorf("kamailio %s: reading the answer: %w", method, err)
	}
	if answer.Error != nil {
		return &RPCError{Method: method, Code: answer.Error.Code, Message: answer.Error.Message}
	}
	if result == nil {
		return nil
	}
	return json.Unmarshal(answer.Result, result)
}

// UpSince is when the running Kamailio started (core.uptime's up_since): a
// different answer means it restarted and lost nothing but what it has not
// reloaded since.
func (r *RPC) UpSince(ctx context.Context) (string, error) {
	var up struct {
		UpSince string `json:"up_since"`
	}
	err := r.Call(ctx, "core.uptime", &up)
	return up.UpSince, err
}

// ReloadAddresses rereads the address file (permissions.addressReload).
// Kamailio refuses reloads closer than its reload_delta.
func (r *RPC) ReloadAddresses(ctx context.Context) error {
	return r.Call(ctx, "permissions.addressReload", nil)
}

// ReloadCredentials rereads the credentials table (htable.reload).
func (r *RPC) ReloadCredentials(ctx context.Context) error {
	return r.Call(ctx, "htable.reload", nil, CredentialsTable)
}

// DumpAddresses is the address table Kamailio has loaded
// (permissions.addressDump).
func (r *RPC) DumpAddresses(ctx context.Context) ([]AddressEntry, error) {
	var rows []struct {
		Group int `json:"group"`
		Item  struct {
			IP   string `json:"ip"`
			Port int64  `json:"port"`
			Tag  string `json:"tag"`
		} `json:"item"`
	}
	if err := r.Call(ctx, "permissions.addressDump", &rows); err != nil {
		return nil, err
	}
	out := make([]AddressEntry, 0, len(rows))
	for _, row := range rows {
		ip := row.Item.IP
		if a, err := netip.ParseAddr(strings.Trim(ip, "[]")); err == nil {
			ip = a.Unmap().String()
		}
		out = append(out, AddressEntry{Group: row.Group, IP: ip, Port: row.Item.Port, Tag: row.Item.Tag})
	}
	return out, nil
}

// DumpCredentials is the credentials table Kamailio has loaded
// (htable.dump); an entry whose value does not have the three fields is
// returned with what it has, so that the check reports it.
func (r *RPC) DumpCredentials(ctx context.Context) ([]Credential, error) {
	var slots []struct {
		Slot []struct {
			Name  string `json:"name"`
			Value any    `json:"value"`
		} `json:"slot"`
	}
	if err := r.Call(ctx, "htable.dump", &slots, CredentialsTable); err != nil {
		return nil, err
	}
	var out []Credential
	for _, s := range slots {
		for _, item := range s.Slot {
			v := fmt.Sprint(item.Value)
			parts := strings.SplitN(v, ",", 3)
			for len(parts) < 3 {
				parts = append(parts, "")
			}
			out = append(out, Credential{Username: item.Name, HA1: parts[0], EndpointSID: parts[1], PartnerSID: parts[2]})
		}
	}
	return out, nil
}
