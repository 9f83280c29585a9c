/* Local mode: opening and closing a store, its prepared statements and its transactions. The
 * store's design (on disk, change tracking, the cache): store_int.h. */
#include "store_int.h"

#include "fileio.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define DB_NAME "store.db"
#define DEFAULT_BUSY_MS 10000

/* ---- statements ------------------------------------------------------------------------- */

/* A cached prepared statement, reset and unbound. Borrowed: use it to completion before the
 * next ls_stmt() call. */
sqlite3_stmt *ls_stmt(ls_store *s, const char *sql)
{
    for (size_t i = 0; i < STMT_CACHE; i++) {
        if (s->stmts[i].sql && strcmp(s->stmts[i].sql, sql) == 0) {
            sqlite3_reset(s->stmts[i].st);
            sqlite3_clear_bindings(s->stmts[i].st);
            return s->stmts[i].st;
        }
    }
    sqlite3_stmt *st = NULL;
    int rc = sqlite3_prepare_v3(s->db, sql, -1, SQLITE_PREPARE_PERSISTENT, &st, NULL);
    if (rc != SQLITE_OK) {
        ls_dberr(s, rc, "prepare");
        sqlite3_finalize(st);
        return NULL;
    }
    char *copy = strdup(sql);
    if (!copy) {
        sqlite3_finalize(st);
        ls_nomem(s);
        return NULL;
    }
    stmt_ent *e = &s->stmts[s->stmt_next];
    s->stmt_next = (s->stmt_next + 1) % STMT_CACHE;
    sqlite3_finalize(e->st);
    free(e->sql);
    e->sql = copy;
    e->st = st;
    return st;
}

void ls_stmts_clear(ls_store *s)
{
    for (size_t i = 0; i < STMT_CACHE; i++) {
        sqlite3_finalize(s->stmts[i].st);
        free(s->stmts[i].sql);
        s->stmts[i].st = NULL;
        s->stmts[i].sql = NULL;
    }
}

int ls_exec(ls_store *s, const char *sql, const char *what)
{
    int rc = sqlite3_exec(s->db, sql, NULL, NULL, NULL);
    return rc == SQLITE_OK ? 0 : ls_dberr(s, rc, what);
}

char *ls_table(char *buf, size_t cap, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(buf, cap, fmt, ap);
    va_end(ap);
    return buf;
}

/* ---- transactions ----------------------------------------------------------------------- */

int ls_begin_read(ls_store *s)
{
    int r = ls_exec(s, "BEGIN", "begin");
    if (r)
        return r;
    if ((r = ls_catalog_sync(s))) {
        sqlite3_exec(s->db, "ROLLBACK", NULL, NULL, NULL);
        return r;
    }
    return 0;
}

void ls_end_read(ls_store *s)
{
    if (!sqlite3_get_autocommit(s->db))
        sqlite3_exec(s->db, "COMMIT", NULL, NULL, NULL);
}

int ls_begin_write(ls_store *s)
{
    int rc = sqlite3_exec(s->db, "BEGIN IMMEDIATE", NULL, NULL, NULL);
    if (rc != SQLITE_OK)
        return ls_dberr(s, rc, "begin write");
    int r = ls_catalog_sync(s);
    if (r) {
        sqlite3_exec(s->db, "ROLLBACK", NULL, NULL, NULL);
        return r;
    }
    return 0;
}

void ls_rollback(ls_store *s)
{
    if (!sqlite3_get_autocommit(s->db))
        sqlite3_exec(s->db, "ROLLBACK", NULL, NULL, NULL);
}

int ls_commit(ls_store *s)
{
    int rc = sqlite3_exec(s->db, "COMMIT", NULL, NULL, NULL);
    if (rc == SQLITE_OK)
        return 0;
    int r = ls_dberr(s, rc, "commit");
    ls_rollback(s);
    ls_catalog_clear(s); /* caches may hold changes that were not committed */
    return r;
}

/* ---- open / close ----------------------------------------------------------------------- */

static const char SCHEMA[] =
    "CREATE TABLE IF NOT EXISTS meta(key TEXT PRIMARY KEY, value TEXT NOT NULL);"
    "CREATE TABLE IF NOT EXISTS collections(name TEXT PRIMARY KEY, cid INTEGER NOT NULL UNIQUE,"
    " dim INTEGER NOT NULL, distance INTEGER NOT NULL, seq INTEGER NOT NULL DEFAULT 0,"
    " epoch INTEGER NOT NULL DEFAULT 0, ntomb INTEGER NOT NULL DEFAULT 0, metadata TEXT);"
    "CREATE TABLE IF NOT EXISTS aliases(alias TEXT PRIMARY KEY, collection TEXT NOT NULL);"
    "CREATE TABLE IF NOT EXISTS segs(cid INTEGER PRIMARY KEY, gen INTEGER NOT NULL,"
    " next INTEGER NOT NULL, dead INTEGER NOT NULL);"
    "INSERT OR IGNORE INTO meta VALUES('format', '" FORMAT_VERSION "');"
    "INSERT OR IGNORE INTO meta VALUES('next_cid', '1');";

static int openerr(char *buf, size_t cap, int code, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));
static int openerr(char *buf, size_t cap, int code, const char *fmt, ...)
{
    if (buf && cap) {
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(buf, cap, fmt, ap);
        va_end(ap);
    }
    return code;
}

static const char *float_order(void)
{
    const float one = 1.0f;
    unsigned char b[4];
    memcpy(b, &one, 4);
    return b[3] == 0x3f ? "le" : "be";
}

/* The files a store directory may hold before its marker exists (another process may be
 * creating the store right now). */
static int store_file(const char *name)
{
    return !strcmp(name, ".") || !strcmp(name, "..") || !strcmp(name, DB_NAME) ||
           !strcmp(name, DB_NAME "-wal") || !strcmp(name, DB_NAME "-shm") ||
           !strcmp(name, DB_NAME "-journal") || !strncmp(name, LS_MARKER_NAME ".tmp", 19);
}

/* v<cid>-<gen>.seg: a vector segment file (see segments.c). */
static int seg_file(const char *name)
{
    const char *p = name;
    if (*p++ != 'v' || !(*p >= '0' && *p <= '9'))
        return 0;
    while (*p >= '0' && *p <= '9')
        p++;
    if (*p++ != '-' || !(*p >= '0' && *p <= '9'))
        return 0;
    while (*p >= '0' && *p <= '9')
        p++;
    return strcmp(p, ".seg") == 0;
}

/* *has: 1 when the collections table has the metadata column, else 0. An SQLite code. */
static int md_column(sqlite3 *db, int *has)
{
    sqlite3_stmt *q = NULL;
    int rc = sqlite3_prepare_v2(
        db, "SELECT 1 FROM pragma_table_info('collections') WHERE name = 'metadata'", -1, &q, NULL);
    if (rc == SQLITE_OK) {
        rc = sqlite3_step(q);
        *has = rc == SQLITE_ROW;
        rc = rc == SQLITE_ROW || rc == SQLITE_DONE ? SQLITE_OK : rc;
    }
    sqlite3_finalize(q);
    return rc;
}

/* A store made before collection metadata: the column added, once (another process may be
 * doing the same: checked again under the write lock). */
static int md_column_add(sqlite3 *db)
{
    int has = 0, rc = md_column(db, &has);
    if (rc != SQLITE_OK || has)
        return rc;
    rc = sqlite3_exec(db, "BEGIN IMMEDIATE", NULL, NULL, NULL);
    if (rc != SQLITE_OK)
        return rc;
    rc = md_column(db, &has);
    if (rc == SQLITE_OK && !has)
        rc = sqlite3_exec(db, "ALTER TABLE collections ADD COLUMN metadata TEXT", NULL, NULL, NULL);
    if (rc == SQLITE_OK)
        rc = sqlite3_exec(db, "COMMIT", NULL, NULL, NULL);
    if (rc != SQLITE_OK && !sqlite3_get_autocommit(db))
        sqlite3_exec(db, "ROLLBACK", NULL, NULL, NULL);
    return rc;
}

static int write_marker(const char *dir, char *errbuf, size_t errcap)
{
    char tmp[4200], path[4200];
    snprintf(tmp, sizeof tmp, "%s/%s.tmp%ld", dir, LS_MARKER_NAME, (long)getpid());
    snprintf(path, sizeof path, "%s/%s", dir, LS_MARKER_NAME);
    int fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
    if (fd < 0)
        return openerr(errbuf, errcap, ls_errno_code(errno), "cannot write %s: %s", tmp,
                       strerror(errno));
    static const char text[] = "libqdrantc local store, format " FORMAT_VERSION "\n";
    int ok = write(fd, text, sizeof text - 1) == (ssize_t)(sizeof text - 1) && fsync(fd) == 0;
    int e = errno;
    close(fd);
    if (!ok || rename(tmp, path) != 0) {
        e = ok ? errno : e;
        unlink(tmp);
        return openerr(errbuf, errcap, ls_errno_code(e), "cannot write %s: %s", path, strerror(e));
    }
    rc_fsync_dir(dir); /* best effort: the marker is rewritten by the next opener if lost */
    return 0;
}

int ls_open(ls_store **out, const char *dir, const ls_open_options *opts, char *errbuf,
            size_t errcap)
{
    ls_open_options o = LS_OPEN_OPTIONS_INIT;
    if (errbuf && errcap)
        errbuf[0] = '\0';
    if (!out || !dir || !*dir)
        return openerr(errbuf, errcap, LS_EINVAL, "ls_open: out and dir are required");
    if (opts) {
        if (opts->version < 1 || opts->version > LS_OPEN_OPTIONS_VERSION)
            return openerr(errbuf, errcap, LS_EINVAL, "ls_open: unknown options version %u",
                           opts->version);
        o.create = opts->create;
        o.sync_full = opts->sync_full;
        o.busy_timeout_ms = opts->busy_timeout_ms;
        if (opts->version >= 2)
            o.scan = opts->scan;
    }
    if (strlen(dir) > 4000)
        return openerr(errbuf, errcap, LS_EINVAL, "ls_open: path too long");
    struct stat st;
    if (stat(dir, &st) != 0) {
        if (errno != ENOENT || !o.create)
            return openerr(errbuf, errcap, ls_errno_code(errno), "cannot open store %s: %s", dir,
                           strerror(errno));
        if (mkdir(dir, 0777) != 0 && errno != EEXIST)
            return openerr(errbuf, errcap, ls_errno_code(errno),
                           "cannot create store directory %s: %s", dir, strerror(errno));
        if (stat(dir, &st) != 0)
            return openerr(errbuf, errcap, ls_errno_code(errno), "cannot open store %s: %s", dir,
                           strerror(errno));
    }
    if (!S_ISDIR(st.st_mode))
        return openerr(errbuf, errcap, LS_ENOTSTORE, "%s is not a local store: not a directory",
                       dir);
    char path[4200];
    snprintf(path, sizeof path, "%s/%s", dir, LS_MARKER_NAME);
    int marker = access(path, F_OK) == 0;
    /* the database: a store (marker or segment files) whose database is missing or empty is
     * damaged; SQLite would quietly make a new empty one */
    char dbpath[4200];
    snprintf(dbpath, sizeof dbpath, "%s/%s", dir, DB_NAME);
    struct stat dbst;
    int db_state = 1; /* 1: there, with content; 0: empty; -1: missing */
    if (stat(dbpath, &dbst) != 0) {
        if (errno != ENOENT)
            return openerr(errbuf, errcap, ls_errno_code(errno), "cannot open %s: %s", dbpath,
                           strerror(errno));
        db_state = -1;
    } else if (S_ISREG(dbst.st_mode) && dbst.st_size == 0) {
        db_state = 0;
    }
    char first[64] = "";
    if (!marker) {
        DIR *d = opendir(dir);
        if (!d)
            return openerr(errbuf, errcap, ls_errno_code(errno), "cannot read directory %s: %s",
                           dir, strerror(errno));
        struct dirent *de;
        int other = 0;
        while ((de = readdir(d)) != NULL) {
            if (store_file(de->d_name))
                continue;
            other = !seg_file(de->d_name);
            if (other || !first[0])
                snprintf(first, sizeof first, "%.60s", de->d_name);
            if (other)
                break;
        }
        closedir(d);
        if (!other && first[0] && db_state <= 0) /* segment files, no database */
            return openerr(errbuf, errcap, LS_ECORRUPT,
                           "store %s is damaged: it holds vector segment files (%s) but its "
                           "database %s is %s; not making a new empty store there",
                           dir, first, dbpath, db_state < 0 ? "missing" : "empty (0 bytes)");
        if (first[0])
            return openerr(errbuf, errcap, LS_ENOTSTORE,
                           "%s is not a local store: the directory is not empty (it holds %s) and "
                           "has no %s marker file",
                           dir, first, LS_MARKER_NAME);
    } else if (db_state <= 0) {
        return openerr(errbuf, errcap, LS_ECORRUPT,
                       "store %s is damaged: it has the %s marker but its database %s is %s; not "
                       "making a new empty store there",
                       dir, LS_MARKER_NAME, dbpath, db_state < 0 ? "missing" : "empty (0 bytes)");
    }
    if (access(dir, W_OK | X_OK) != 0)
        return openerr(errbuf, errcap, LS_EACCES, "store directory %s is not writable: %s", dir,
                       strerror(errno));

    ls_store *s = calloc(1, sizeof *s);
    if (!s || !(s->dir = strdup(dir))) {
        free(s);
        return openerr(errbuf, errcap, LS_ENOMEM, "out of memory");
    }
    s->scan = o.scan != 0;
    snprintf(path, sizeof path, "%s/%s", dir, DB_NAME);
    int rc = sqlite3_open_v2(
        path, &s->db, SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE | SQLITE_OPEN_NOMUTEX, NULL);
    int r = 0;
    if (rc != SQLITE_OK) {
        r = openerr(errbuf, errcap, ls_sqlerr_code(rc), "cannot open %s: %s", path,
                    s->db ? sqlite3_errmsg(s->db) : sqlite3_errstr(rc));
        goto fail;
    }
    sqlite3_extended_result_codes(s->db, 0);
    sqlite3_busy_timeout(s->db, o.busy_timeout_ms > 0 ? (int)o.busy_timeout_ms : DEFAULT_BUSY_MS);
    /* page_size applies to a new database only (an existing store keeps its own): a point row
     * (a 384-d vector plus a chunk of text is ~2.5 KiB) takes a whole 4 KiB page, so 16 KiB
     * pages halve the bytes written and the time of a bulk upsert (bench/local, tmp 64k points:
     * 37.7 -> 18.4 us/point). */
    char pragmas[256];
    snprintf(pragmas, sizeof pragmas,
             "PRAGMA page_size=16384; PRAGMA journal_mode=WAL; PRAGMA synchronous=%s;"
             " PRAGMA foreign_keys=OFF;"
             "PRAGMA cache_size=-16384; PRAGMA mmap_size=0;",
             o.sync_full ? "FULL" : "NORMAL");
    rc = sqlite3_exec(s->db, pragmas, NULL, NULL, NULL);
    if (rc == SQLITE_OK) {
        /* journal_mode=WAL answers with the mode in force; it must be wal */
        sqlite3_stmt *jm = NULL;
        rc = sqlite3_prepare_v2(s->db, "PRAGMA journal_mode", -1, &jm, NULL);
        if (rc == SQLITE_OK && sqlite3_step(jm) == SQLITE_ROW &&
            strcmp((const char *)sqlite3_column_text(jm, 0), "wal") != 0)
            rc = SQLITE_CANTOPEN;
        sqlite3_finalize(jm);
    }
    if (rc != SQLITE_OK) {
        r = openerr(errbuf, errcap, ls_sqlerr_code(rc), "cannot open %s: %s", path,
                    sqlite3_errmsg(s->db));
        goto fail;
    }
    /* Schema: created when missing (a new store, or one another process is creating). */
    sqlite3_stmt *q = NULL;
    rc = sqlite3_prepare_v2(s->db, "SELECT value FROM meta WHERE key='format'", -1, &q, NULL);
    int have = 0, none = 0; /* none: certainly no store tables or no format row */
    char fmt[32] = "";
    if (rc == SQLITE_OK) {
        int step = sqlite3_step(q);
        if (step == SQLITE_ROW) {
            have = 1;
            snprintf(fmt, sizeof fmt, "%s", (const char *)sqlite3_column_text(q, 0));
        }
        none = step == SQLITE_DONE;
    } else if ((rc & 0xff) == SQLITE_NOTADB || (rc & 0xff) == SQLITE_CORRUPT) {
        sqlite3_finalize(q);
        r = openerr(errbuf, errcap, LS_ECORRUPT, "%s is not a valid store database: %s", path,
                    sqlite3_errmsg(s->db));
        goto fail;
    } else {
        none = (rc & 0xff) == SQLITE_ERROR; /* no such table */
    }
    sqlite3_finalize(q);
    if (!have && none && marker) {
        /* the marker is written after the schema is committed: this is not a store being made */
        r = openerr(errbuf, errcap, LS_ECORRUPT,
                    "store %s is damaged: its database %s has no store tables; not making a new "
                    "empty store there",
                    dir, path);
        goto fail;
    }
    if (!have) {
        char ins[128];
        snprintf(ins, sizeof ins, "INSERT OR IGNORE INTO meta VALUES('float_order', '%s');",
                 float_order());
        rc = sqlite3_exec(s->db, "BEGIN IMMEDIATE", NULL, NULL, NULL);
        if (rc == SQLITE_OK)
            rc = sqlite3_exec(s->db, SCHEMA, NULL, NULL, NULL);
        if (rc == SQLITE_OK)
            rc = sqlite3_exec(s->db, ins, NULL, NULL, NULL);
        if (rc == SQLITE_OK)
            rc = sqlite3_exec(s->db, "COMMIT", NULL, NULL, NULL);
        if (rc != SQLITE_OK) {
            r = openerr(errbuf, errcap, ls_sqlerr_code(rc), "cannot create the store in %s: %s",
                        dir, sqlite3_errmsg(s->db));
            sqlite3_exec(s->db, "ROLLBACK", NULL, NULL, NULL);
            goto fail;
        }
        snprintf(fmt, sizeof fmt, FORMAT_VERSION);
    }
    if (strcmp(fmt, FORMAT_VERSION) != 0 && strcmp(fmt, FORMAT_SEGMENTS) != 0) {
        r = openerr(errbuf, errcap, LS_ECORRUPT,
                    "store %s has format %s, this library reads " FORMAT_VERSION
                    " and " FORMAT_SEGMENTS,
                    dir, fmt);
        goto fail;
    }
    /* a store made before vector segments: their table added (nothing else changes) */
    rc = sqlite3_prepare_v2(s->db, "SELECT 1 FROM sqlite_master WHERE name = 'segs'", -1, &q, NULL);
    have = rc == SQLITE_OK && sqlite3_step(q) == SQLITE_ROW;
    sqlite3_finalize(q);
    if (rc == SQLITE_OK && !have)
        rc = sqlite3_exec(s->db, SCHEMA, NULL, NULL, NULL);
    if (rc == SQLITE_OK)
        rc = md_column_add(s->db);
    if (rc != SQLITE_OK) {
        r = openerr(errbuf, errcap, ls_sqlerr_code(rc), "cannot update the store in %s: %s", dir,
                    sqlite3_errmsg(s->db));
        goto fail;
    }
    rc = sqlite3_prepare_v2(s->db, "SELECT value FROM meta WHERE key='float_order'", -1, &q, NULL);
    if (rc == SQLITE_OK && sqlite3_step(q) == SQLITE_ROW &&
        strcmp((const char *)sqlite3_column_text(q, 0), float_order()) != 0) {
        sqlite3_finalize(q);
        r = openerr(errbuf, errcap, LS_ECORRUPT,
                    "store %s was written on a machine of the other byte order", dir);
        goto fail;
    }
    sqlite3_finalize(q);
    if (!marker && (r = write_marker(dir, errbuf, errcap)))
        goto fail;
    *out = s;
    return 0;
fail:
    sqlite3_close(s->db);
    free(s->dir);
    free(s);
    return r;
}

void ls_close(ls_store *s)
{
    if (!s)
        return;
    ls_catalog_clear(s);
    ls_stmts_clear(s);
    sqlite3_close(s->db);
    free(s->dir);
    free(s);
}
