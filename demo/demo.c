/* A small program with three deliberate leaks for `make demo`: a config parser that forgets a copied value, a list whose nodes are never freed, and a buffer lost on an error path. Everything else is freed. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

struct setting {
    char *key;
    char *value;
};

struct node {
    int value;
    struct node *next;
};

static const char *const config_text[] = {
    "name = demo",
    "threads = 4",
    "log = /tmp/demo.log",
    "# a comment",
    "mode = fast",
};

/* Parses "key = value" into freshly allocated copies; returns 0 for comments. Leak 1: main frees every copied
 * value except the one of the "log" setting. */
static int parse_line(const char *line, struct setting *out)
{
    const char *eq = strchr(line, '=');
    if (line[0] == '#' || !eq)
        return 0;
    size_t klen = (size_t)(eq - line);
    while (klen > 0 && line[klen - 1] == ' ')
        klen--;
    const char *v = eq + 1;
    while (*v == ' ')
        v++;
    out->key = strndup(line, klen);
    out->value = strdup(v);
    return 1;
}

static struct node *push(struct node *head, int value)
{
    struct node *n = malloc(sizeof *n);
    n->value = value;
    n->next = head;
    return n;
}

/* Leak 2: frees only the first node, every other node of the list leaks. */
static void free_list_badly(struct node *head)
{
    free(head);
}

/* Leak 3: the buffer is lost when the input is rejected. */
static int checksum(const char *text)
{
    char *buf = malloc(strlen(text) + 64);
    if (strlen(text) < 8)
        return -1;
    int sum = 0;
    strcpy(buf, text);
    for (char *p = buf; *p; p++)
        sum += (unsigned char)*p;
    free(buf);
    return sum;
}

int main(void)
{
    struct setting settings[8];
    int n = 0;
    for (size_t i = 0; i < sizeof config_text / sizeof config_text[0]; i++)
        n += parse_line(config_text[i], &settings[n]);
    for (int i = 0; i < n; i++) {
        printf("setting %s = %s\n", settings[i].key, settings[i].value);
        if (strcmp(settings[i].key, "log") != 0)
            free(settings[i].value);
        free(settings[i].key);
    }

    struct node *list = NULL;
    for (int i = 0; i < 10; i++)
        list = push(list, i * i);
    int total = 0;
    for (struct node *p = list; p; p = p->next)
        total += p->value;
    printf("sum of squares = %d\n", total);
    free_list_badly(list);

    printf("checksum(\"leakwatch\") = %d\n", checksum("leakwatch"));
    printf("checksum(\"short\") = %d\n", checksum("short"));
    return 0;
}
