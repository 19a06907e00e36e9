/* A shared library that is not a wzt plugin. */
int unrelated_function(void) { return 7; }
