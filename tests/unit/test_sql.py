from otel_trainerhub.sql import fingerprint, sanitize


def test_placeholders_survive_and_literals_are_masked() -> None:
    assert sanitize('SELECT "u"."id" FROM "users" WHERE "u"."email" = %s LIMIT 21') == 'SELECT "u"."id" FROM "users" WHERE "u"."email" = %s LIMIT ?'
    assert sanitize("SELECT * FROM users WHERE email = 'ana@example.com' AND pin = 4242") == "SELECT * FROM users WHERE email = ? AND pin = ?"
    assert sanitize("UPDATE cards SET number = '4111 1111 1111 1111' WHERE id = $1") == "UPDATE cards SET number = ? WHERE id = $1"


def test_tricky_literals() -> None:
    assert sanitize("SELECT 'it''s', E'a\\'b', $$dollar 'quoted'$$, $tag$x$tag$") == "SELECT ?, ?, ?, ?"
    assert sanitize("SELECT 1.5e3, -7, .5 FROM t1 JOIN t2 ON t1.c2 = t2.c2") == "SELECT ?, ?, ? FROM t1 JOIN t2 ON t1.c2 = t2.c2"
    assert sanitize('SELECT "col 1" FROM "t" -- it\'s a comment') == 'SELECT "col 1" FROM "t" -- it\'s a comment'
    # an unterminated literal is masked to the end rather than leaked
    assert sanitize("SELECT 'secret") == "SELECT ?"


def test_fingerprint_folds_values_in_lists_and_comments() -> None:
    a = fingerprint('SELECT "s"."id" FROM "svc" WHERE "s"."trainer_id" IN (%s, %s, %s)  /* c */')
    b = fingerprint('SELECT "s"."id" FROM "svc" WHERE "s"."trainer_id" IN (%s)')
    assert a == b == 'SELECT "s"."id" FROM "svc" WHERE "s"."trainer_id" IN (...)'
    assert fingerprint("INSERT INTO t (a, b) VALUES (1, 'x'), (2, 'y'), (3, 'z')") == "INSERT INTO t (a, b) VALUES (?, ?), ..."
    assert fingerprint("SELECT * FROM t WHERE id = 1") == fingerprint("SELECT  *  FROM t WHERE id = 99")
