-- Schema version 3: the tokens cache and the records of questions and answers (DESIGN.md §5).
-- Applied by library.c's migration runner inside one transaction. Never edited once released.

-- The tokens of each page of a document for one tokenizer (sl_tokenizer_id), computed once.
CREATE TABLE token_cache (
  document_id INTEGER NOT NULL REFERENCES documents (id) ON DELETE CASCADE,
  page        INTEGER NOT NULL,
  tokenizer   TEXT    NOT NULL,                 -- 64 hex digits
  ids         BLOB    NOT NULL,                 -- int32 LE, one per token
  offsets     BLOB    NOT NULL,                 -- u32 LE: byte in pages.text where each starts
  PRIMARY KEY (document_id, tokenizer, page)
) WITHOUT ROWID;
-- A page rewritten (the document changed) takes its tokens with it.
CREATE TRIGGER pages_token_cache_ad AFTER DELETE ON pages BEGIN
  DELETE FROM token_cache WHERE document_id = old.document_id AND page = old.number;
END;

CREATE TABLE conversations (
  id         INTEGER PRIMARY KEY,
  title      TEXT    NOT NULL,
  created_at INTEGER NOT NULL                   -- microseconds since the epoch
);

-- One question and its answer, with how it was made.
CREATE TABLE answers (
  id              INTEGER PRIMARY KEY,
  conversation_id INTEGER NOT NULL REFERENCES conversations (id) ON DELETE CASCADE,
  kind            TEXT    NOT NULL CHECK (kind IN ('ask', 'summary')),
  question        TEXT    NOT NULL,
  answer          TEXT    NOT NULL,
  answer_tokens   BLOB,                         -- int32 LE
  model           TEXT    NOT NULL,             -- the model file's name
  tokenizer       TEXT    NOT NULL,
  dsa_mode        TEXT    NOT NULL CHECK (dsa_mode IN ('dense', 'indexer', 'oracle')),
  top_k           INTEGER NOT NULL,             -- 0 for dense
  budget          INTEGER NOT NULL,             -- context tokens allowed
  context_tokens  INTEGER NOT NULL,             -- context tokens used
  left_out        TEXT,                         -- what did not fit, for people: "R-intro.pdf pp. 12-40"
  prefill_ms      REAL    NOT NULL,
  first_token_ms  REAL    NOT NULL,             -- from the start of the job
  decode_ms       REAL    NOT NULL,
  created_at      INTEGER NOT NULL
);
CREATE INDEX answers_conversation ON answers (conversation_id);

-- The sources numbered in an answer's context.
CREATE TABLE answer_sources (
  answer_id   INTEGER NOT NULL REFERENCES answers (id) ON DELETE CASCADE,
  number      INTEGER NOT NULL,                 -- 1-based, as the model saw it
  document_id INTEGER REFERENCES documents (id) ON DELETE SET NULL,
  title       TEXT    NOT NULL,
  included    TEXT    NOT NULL,                 -- pages or lines given: "3-9, 14" ("" none)
  PRIMARY KEY (answer_id, number)
) WITHOUT ROWID;

-- The context's span map and what the indexer selected (formats: app/span-map.h and the
-- engine's selection format, engine/README.md).
CREATE TABLE answer_records (
  answer_id           INTEGER PRIMARY KEY REFERENCES answers (id) ON DELETE CASCADE,
  span_map            BLOB NOT NULL,
  question_selections BLOB,                     -- NULL for dense answers
  answer_selections   BLOB
);
