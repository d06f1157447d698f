"""Writes the C inputs of bench/run's real-program rows, so that no input is downloaded."""
# Usage: inputs.py varied LINES > file.c   code of many shapes (structs, switches, strings, recursion, stdio)
#        inputs.py small LINES > file.c    many small functions that call one another
import sys

VARIED = [
    """struct rec{i} {{ int id; char name[32]; double w[{k}]; struct rec{i} *next; }};

static struct rec{i} *make{i}(int n)
{{
    struct rec{i} *head = NULL;
    for (int i = 0; i < n; i++) {{
        struct rec{i} *r = calloc(1, sizeof *r);
        if (!r)
            break;
        r->id = i * {k};
        snprintf(r->name, sizeof r->name, "rec{i}-%d", i);
        for (int j = 0; j < {k}; j++)
            r->w[j] = (double)(i + j) / {k}.0;
        r->next = head;
        head = r;
    }}
    return head;
}}
""",
    """enum op{i} {{ OP{i}_ADD, OP{i}_SUB, OP{i}_MUL, OP{i}_DIV, OP{i}_NEG, OP{i}_MOD }};

static long eval{i}(enum op{i} op, long a, long b)
{{
    switch (op) {{
    case OP{i}_ADD: return a + b + {k};
    case OP{i}_SUB: return a - b;
    case OP{i}_MUL: return a * b;
    case OP{i}_DIV: return b ? a / b : 0;
    case OP{i}_NEG: return -a;
    case OP{i}_MOD: return b ? a % b : {k};
    }}
    return 0;
}}
""",
    """static size_t count{i}(const char *s, const char *sep)
{{
    size_t n = 0;
    char buf[256];
    strncpy(buf, s, sizeof buf - 1);
    buf[sizeof buf - 1] = 0;
    for (char *save = NULL, *t = strtok_r(buf, sep, &save); t; t = strtok_r(NULL, sep, &save))
        n += strlen(t) > {k} ? 2 : 1;
    return n;
}}
""",
    """static unsigned long fib{i}(unsigned n, unsigned long *memo)
{{
    if (n < 2)
        return n;
    if (memo[n])
        return memo[n];
    memo[n] = fib{i}(n - 1, memo) + fib{i}(n - 2, memo) + {k} % 3;
    return memo[n];
}}
""",
    """static int compare{i}(const void *a, const void *b)
{{
    const int *x = a, *y = b;
    return (*x > *y) - (*x < *y);
}}

static int median{i}(int *v, size_t n)
{{
    qsort(v, n, sizeof *v, compare{i});
    return n ? v[n / 2] + {k} : 0;
}}
""",
]


def varied(lines):
    out = ["#include <stdio.h>", "#include <stdlib.h>", "#include <string.h>", ""]
    i = 0
    # main() spends about three lines on each piece
    while sum(s.count("\n") + 1 for s in out) + 3 * i + 6 < lines:
        out.append(VARIED[i % len(VARIED)].format(i=i, k=3 + i % 5))
        i += 1
    out.append("int main(void)\n{\n    long s = 0;")
    for j in range(i):
        kind = j % len(VARIED)
        if kind == 0:
            out.append("    s += make%d(3) != NULL;" % j)
        elif kind == 1:
            out.append("    s += eval%d(OP%d_MUL, s, %d);" % (j, j, j))
        elif kind == 2:
            out.append('    s += (long)count%d("a b,c d", " ,");' % j)
        elif kind == 3:
            out.append("    {\n        unsigned long memo[64] = { 0 };\n        s += (long)fib%d(40, memo);\n    }" % j)
        else:
            out.append("    {\n        int v[5] = { 5, 3, 1, 4, 2 };\n        s += median%d(v, 5);\n    }" % j)
    out.append('    printf("%ld\\n", s);\n    return 0;\n}')
    return "\n".join(out)


def small(lines):
    out = ["struct node { int k; struct node *next; double w[4]; };", ""]
    i = 0
    while 8 * i + 2 + 6 < lines:  # seven lines a function and one to call it
        out += ["static int f%d(const struct node *p, int x)" % i, "{", "    int s = %d;" % i,
                "    for (; p; p = p->next)", "        s += p->k * (x + %d) + (int)p->w[%d];" % (i % 7, i % 4),
                ("    return s > %d ? f%d(p, s - 1) : s;" % (i, i - 1)) if i else "    return s;", "}"]
        i += 1
    out += ["int run(const struct node *p)", "{", "    int s = 0;"]
    out += ["    s += f%d(p, s);" % j for j in range(i)]
    out += ["    return s;", "}"]
    return "\n".join(out)


if __name__ == "__main__":
    if len(sys.argv) != 3 or sys.argv[1] not in ("varied", "small"):
        sys.exit("usage: inputs.py varied|small LINES")
    print((varied if sys.argv[1] == "varied" else small)(int(sys.argv[2])))
