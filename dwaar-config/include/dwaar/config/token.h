/* Dwaarfile tokens and the lexer (spec 10 §1.1-1.2). */
#ifndef DWAAR_CONFIG_TOKEN_H
#define DWAAR_CONFIG_TOKEN_H

#include <dwaar/base/arena.h>
#include <dwaar/base/diag.h>
#include <stdint.h>

typedef enum dw_cfg_tok_kind {
    DW_TOK_WORD,
    DW_TOK_QUOTED,  /* "..." or `...`; see quote */
    DW_TOK_OPEN,    /* { */
    DW_TOK_CLOSE,   /* } */
    DW_TOK_EOL,     /* end of a logical line */
    DW_TOK_COMMENT, /* only with DW_LEX_COMMENTS; text is '#' to end of line */
    DW_TOK_EOF,
} dw_cfg_tok_kind_t;

#define DW_TOK_F_BLANK_BEFORE 0x01u /* at least one empty line precedes this token (fmt) */

typedef struct dw_cfg_token {
    dw_str_t text;    /* decoded text (escapes applied, substitutions done by the loader) */
    dw_str_t raw;     /* the bytes as written in the source (fmt re-emits them) */
    const char *file; /* display name (base name of the file) */
    uint32_t line, col, end_line;
    uint8_t kind; /* dw_cfg_tok_kind_t */
    char quote;   /* 0, '"' or '`' */
    uint8_t flags;
} dw_cfg_token_t;

typedef struct dw_cfg_tokens {
    dw_cfg_token_t *v;
    size_t n, cap;
} dw_cfg_tokens_t;

#define DW_LEX_COMMENTS 0x01u /* emit COMMENT tokens (fmt) */

/* Tokenises src (len bytes; a leading BOM is skipped) into out, ending with one EOF token.
 * Token texts point into src or into the arena. Returns the number of errors reported. */
size_t dw_cfg_lex(dw_arena_t *a, const char *file, const char *src, size_t len, unsigned flags,
                  dw_cfg_tokens_t *out, dw_diags_t *diags);

/* How a token prints in messages: 'word', "quoted", '{', '}', end of line, end of file. */
const char *dw_cfg_tok_describe(const dw_cfg_token_t *t, char *buf, size_t bufsz);

#endif
