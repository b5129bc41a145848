//go:build race

package main

// raceEnabled: the race detector adds nothing to the end-to-end tests whose
// subjects are separate processes built without it, and makes them slow;
// .ci/run runs those without -race and requires them to pass.
const raceEnabled = true
