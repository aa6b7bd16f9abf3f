/* The "service": greets with the greeting configured in /etc/greet.conf (`greeting=...`)
 * and says what built it (/usr/share/greet/built-by). */
#include <stdio.h>
#include <string.h>

/* The value of `key=` in `path`, or its first line when `key` is empty. */
static void read_value(const char *path, const char *key, char *out, size_t n) {
    char line[256];
    size_t k = strlen(key);
    FILE *f = fopen(path, "r");
    out[0] = '\0';
    if (!f) return;
    while (fgets(line, sizeof line, f)) {
        line[strcspn(line, "\n")] = '\0';
        if (k == 0 || (strncmp(line, key, k) == 0 && line[k] == '=')) {
            snprintf(out, n, "%s", k ? line + k + 1 : line);
            break;
        }
    }
    fclose(f);
}

int main(void) {
    char greeting[128], by[128];
    read_value("/etc/greet.conf", "greeting", greeting, sizeof greeting);
    read_value("/usr/share/greet/built-by", "", by, sizeof by);
    printf("%s from %s\n", greeting[0] ? greeting : "hello", by);
    return 0;
}
