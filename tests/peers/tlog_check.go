// SPDX-License-Identifier: GPL-2.0-or-later
// A peer check with Go's own transparency-log code (golang.org/x/mod, the
// checksum database's): the ledger's checkpoint is a signed note that
// note.Open accepts with the cluster's .vkey, and a record (the canonical
// bytes in a JSON document's "record" field) is in the checkpoint's tree
// by tlog.CheckRecord with the proof `gpumarket ledger prove` printed.
//
//	tlog_check VKEY CHECKPOINT RECORD.json PROOF.json
package main

import (
	"bytes"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"os"
	"strconv"
	"strings"

	"golang.org/x/mod/sumdb/note"
	"golang.org/x/mod/sumdb/tlog"
)

func fail(format string, args ...interface{}) {
	fmt.Fprintf(os.Stderr, "tlog_check: "+format+"\n", args...)
	os.Exit(1)
}

func read(path string) []byte {
	b, err := os.ReadFile(path)
	if err != nil {
		fail("%v", err)
	}
	return b
}

func main() {
	if len(os.Args) != 5 {
		fail("usage: tlog_check VKEY CHECKPOINT RECORD.json PROOF.json")
	}
	verifier, err := note.NewVerifier(strings.TrimSpace(string(read(os.Args[1]))))
	if err != nil {
		fail("vkey: %v", err)
	}
	n, err := note.Open(read(os.Args[2]), note.VerifierList(verifier))
	if err != nil {
		fail("checkpoint: %v", err)
	}
	lines := strings.Split(n.Text, "\n")
	if len(lines) < 4 {
		fail("checkpoint: %d lines", len(lines))
	}
	size, err := strconv.ParseInt(lines[1], 10, 64)
	if err != nil {
		fail("checkpoint size: %v", err)
	}
	rootBytes, err := base64.StdEncoding.DecodeString(lines[2])
	if err != nil || len(rootBytes) != tlog.HashSize {
		fail("checkpoint root hash: %q", lines[2])
	}
	var root tlog.Hash
	copy(root[:], rootBytes)

	var doc struct {
		Record json.RawMessage `json:"record"`
	}
	if err := json.Unmarshal(read(os.Args[3]), &doc); err != nil || len(doc.Record) == 0 {
		fail("record: %v", err)
	}
	var proof struct {
		Index    int64    `json:"index"`
		TreeSize int64    `json:"tree_size"`
		LeafHash string   `json:"leaf_hash"`
		Proof    []string `json:"proof"`
	}
	if err := json.Unmarshal(read(os.Args[4]), &proof); err != nil {
		fail("proof: %v", err)
	}
	if proof.TreeSize != size {
		fail("proof for a tree of %d, checkpoint of %d", proof.TreeSize, size)
	}
	leaf := tlog.RecordHash(doc.Record)
	if want, _ := hex.DecodeString(proof.LeafHash); !bytes.Equal(leaf[:], want) {
		fail("leaf hash %x is not the proof's %s", leaf[:], proof.LeafHash)
	}
	var p tlog.RecordProof
	for _, h := range proof.Proof {
		b, err := hex.DecodeString(h)
		if err != nil || len(b) != tlog.HashSize {
			fail("proof hash %q", h)
		}
		var x tlog.Hash
		copy(x[:], b)
		p = append(p, x)
	}
	if err := tlog.CheckRecord(p, size, root, proof.Index, leaf); err != nil {
		fail("inclusion: %v", err)
	}
	fmt.Printf("ok %s record %d of %d\n", lines[0], proof.Index, size)
}
