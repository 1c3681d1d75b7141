package mongoserver

import (
	"fmt"
	"slices"
	"strings"
	"time"

	"go.mongodb.org/mongo-driver/v2/bson"
	"go.mongodb.org/mongo-driver/v2/x/mongo/driver/wiremessage"
)

// command is one decoded database command, whichever opcode carried it.
type command struct {
	name string
	db   string
	body bson.Raw
	// sequences holds OP_MSG document sequences (kind 1 sections) by
	// identifier, e.g. "documents" for insert.
	sequences map[string][]bson.Raw
}

// parseQuery decodes an OP_QUERY. Only commands (<db>.$cmd) are accepted:
// the driver uses OP_QUERY solely for its first handshake message.
func parseQuery(body []byte) (command, error) {
	_, rem, ok := wiremessage.ReadQueryFlags(body)
	if !ok {
		return command{}, fmt.Errorf("OP_QUERY: short flags")
	}
	ns, rem, ok := wiremessage.ReadQueryFullCollectionName(rem)
	if !ok {
		return command{}, fmt.Errorf("OP_QUERY: bad collection name")
	}
	db, coll, _ := strings.Cut(ns, ".")
	if coll != "$cmd" {
		return command{}, fmt.Errorf("OP_QUERY on %q: only <db>.$cmd commands are supported", ns)
	}
	if _, rem, ok = wiremessage.ReadQueryNumberToSkip(rem); !ok {
		return command{}, fmt.Errorf("OP_QUERY: short numberToSkip")
	}
	if _, rem, ok = wiremessage.ReadQueryNumberToReturn(rem); !ok {
		return command{}, fmt.Errorf("OP_QUERY: short numberToReturn")
	}
	query, _, ok := wiremessage.ReadQueryQuery(rem)
	if !ok {
		return command{}, fmt.Errorf("OP_QUERY: bad query document")
	}
	doc := bson.Raw(query)
	// With a read preference the driver wraps the command as {$query: ...}.
	if inner, ok := doc.Lookup("$query").DocumentOK(); ok {
		doc = inner
	}
	return newCommand(db, doc, nil)
}

// parseMsg decodes an OP_MSG and reports whether the client set moreToCome
// (it wants no reply).
func parseMsg(body []byte) (command, bool, error) {
	flags, rem, ok := wiremessage.ReadMsgFlags(body)
	if !ok {
		return command{}, false, fmt.Errorf("OP_MSG: short flags")
	}
	if flags&wiremessage.ChecksumPresent != 0 {
		if len(rem) < 4 {
			return command{}, false, fmt.Errorf("OP_MSG: checksum flag set but no checksum")
		}
		rem = rem[:len(rem)-4]
	}
	var (
		doc  bson.Raw
		seqs = map[string][]bson.Raw{}
	)
	for len(rem) > 0 {
		var stype wiremessage.SectionType
		if stype, rem, ok = wiremessage.ReadMsgSectionType(rem); !ok {
			return command{}, false, fmt.Errorf("OP_MSG: short section type")
		}
		switch stype {
		case wiremessage.SingleDocument:
			d, r, ok := wiremessage.ReadMsgSectionSingleDocument(rem)
			if !ok {
				return command{}, false, fmt.Errorf("OP_MSG: bad body section")
			}
			doc, rem = bson.Raw(d), r
		case wiremessage.DocumentSequence:
			id, docs, r, ok := wiremessage.ReadMsgSectionDocumentSequence(rem)
			if !ok {
				return command{}, false, fmt.Errorf("OP_MSG: bad document sequence")
			}
			for _, d := range docs {
				seqs[id] = append(seqs[id], bson.Raw(d))
			}
			rem = r
		default:
			return command{}, false, fmt.Errorf("OP_MSG: unknown section type %d", stype)
		}
	}
	if doc == nil {
		return command{}, false, fmt.Errorf("OP_MSG: no body section")
	}
	db, _ := doc.Lookup("$db").StringValueOK()
	cmd, err := newCommand(db, doc, seqs)
	return cmd, flags&wiremessage.MoreToCome != 0, err
}

func newCommand(db string, doc bson.Raw, seqs map[string][]bson.Raw) (command, error) {
	if err := doc.Validate(); err != nil {
		return command{}, fmt.Errorf("invalid command document: %w", err)
	}
	first, err := doc.IndexErr(0)
	if err != nil {
		return command{}, fmt.Errorf("empty command document: %w", err)
	}
	return command{name: first.Key(), db: db, body: doc, sequences: seqs}, nil
}

// documents returns the command's documents for field, whether inline in
// the body (OP_QUERY, small OP_MSG) or as a document sequence.
func (c command) documents(field string) ([]bson.Raw, error) {
	docs := slices.Clone(c.sequences[field])
	if arr, ok := c.body.Lookup(field).ArrayOK(); ok {
		vals, err := arr.Values()
		if err != nil {
			return nil, fmt.Errorf("%s: %w", field, err)
		}
		for _, v := range vals {
			d, ok := v.DocumentOK()
			if !ok {
				return nil, fmt.Errorf("%s: element of type %s is not a document", field, v.Type)
			}
			docs = append(docs, d)
		}
	}
	return docs, nil
}

// run executes a command and returns the encoded reply document.
func (cs *connState) run(cmd command) []byte {
	var reply bson.D
	switch strings.ToLower(cmd.name) {
	case "hello", "ismaster":
		reply = cs.hello(cmd)
	case "ping", "endsessions":
		reply = bson.D{{Key: "ok", Value: 1.0}}
	case "insert":
		reply = cs.insert(cmd)
	case "find":
		reply = cs.find(cmd)
	default:
		reply = failure(codeCommandNotFound, fmt.Sprintf("no such command: '%s'", cmd.name))
	}
	out, err := bson.Marshal(reply)
	if err != nil {
		// Only our own reply shapes reach here; a failure is a bug, but the
		// client still deserves a well-formed answer.
		out, _ = bson.Marshal(failure(codeInternalError, "encode reply: "+err.Error()))
	}
	return out
}

// Error codes from MongoDB's error_codes.yml.
const (
	codeInternalError   = 1
	codeBadValue        = 2
	codeCommandNotFound = 59
	codeInvalidNS       = 73
)

var codeNames = map[int32]string{
	codeInternalError:   "InternalError",
	codeBadValue:        "BadValue",
	codeCommandNotFound: "CommandNotFound",
	codeInvalidNS:       "InvalidNamespace",
}

func failure(code int32, msg string) bson.D {
	return bson.D{
		{Key: "ok", Value: 0.0},
		{Key: "errmsg", Value: msg},
		{Key: "code", Value: code},
		{Key: "codeName", Value: codeNames[code]},
	}
}

// hello answers both the modern `hello` and the legacy `isMaster`, each with
// its own name for the primary flag, as a standalone server does. No
// topologyVersion is sent, so the driver polls instead of streaming.
func (cs *connState) hello(cmd command) bson.D {
	primaryKey := "isWritablePrimary"
	if strings.ToLower(cmd.name) == "ismaster" {
		primaryKey = "ismaster"
	}
	reply := bson.D{
		{Key: primaryKey, Value: true},
		{Key: "maxBsonObjectSize", Value: int32(16 << 20)},
		{Key: "maxMessageSizeBytes", Value: int32(maxMessageBytes)},
		{Key: "maxWriteBatchSize", Value: int32(100_000)},
		{Key: "localTime", Value: bson.NewDateTimeFromTime(time.Now())},
		{Key: "logicalSessionTimeoutMinutes", Value: int32(30)},
		{Key: "connectionId", Value: cs.id},
		{Key: "minWireVersion", Value: int32(MinWireVersion)},
		{Key: "maxWireVersion", Value: int32(MaxWireVersion)},
		{Key: "readOnly", Value: false},
	}
	if helloOK, _ := cmd.body.Lookup("helloOk").BooleanOK(); helloOK {
		reply = append(reply, bson.E{Key: "helloOk", Value: true})
	}
	return append(reply, bson.E{Key: "ok", Value: 1.0})
}

func (cs *connState) insert(cmd command) bson.D {
	coll, ok := cmd.body.Lookup(cmd.name).StringValueOK()
	if !ok || coll == "" || cmd.db == "" {
		return failure(codeInvalidNS, "insert needs a collection name and $db")
	}
	docs, err := cmd.documents("documents")
	if err != nil {
		return failure(codeBadValue, "insert: "+err.Error())
	}
	cs.server.store.insert(cmd.db+"."+coll, docs)
	return bson.D{{Key: "n", Value: int32(len(docs))}, {Key: "ok", Value: 1.0}}
}

func (cs *connState) find(cmd command) bson.D {
	coll, ok := cmd.body.Lookup(cmd.name).StringValueOK()
	if !ok || coll == "" || cmd.db == "" {
		return failure(codeInvalidNS, "find needs a collection name and $db")
	}
	ns := cmd.db + "." + coll
	var filter bson.Raw
	if v := cmd.body.Lookup("filter"); !v.IsZero() {
		if filter, ok = v.DocumentOK(); !ok {
			return failure(codeBadValue, "find: filter must be a document")
		}
	}
	// limit may be negative (single batch) in older drivers; only its size
	// matters here because every reply is a single batch.
	limit, _ := cmd.body.Lookup("limit").AsInt64OK()
	limit = max(limit, -limit)
	docs, err := cs.server.store.find(ns, filter, limit)
	if err != nil {
		return failure(codeBadValue, "find: "+err.Error())
	}
	batch := make(bson.A, 0, len(docs))
	for _, d := range docs {
		batch = append(batch, d)
	}
	return bson.D{
		{Key: "cursor", Value: bson.D{
			{Key: "id", Value: int64(0)}, // everything fits in firstBatch: no getMore
			{Key: "ns", Value: ns},
			{Key: "firstBatch", Value: batch},
		}},
		{Key: "ok", Value: 1.0},
	}
}
