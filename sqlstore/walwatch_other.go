//go:build !linux

package sqlstore

import "context"

// watchWAL has no portable implementation: the poll alone finds other
// processes' commits.
func watchWAL(context.Context, string) <-chan struct{} { return nil }
