/* A plugin built against another PluginAPI version: the loader must refuse it before calling
   its entry, which would hand over an object of a layout this wzt does not know. */
int wzt_plugin_api_version(void) { return 99; }
void *wzt_plugin_entry(void) { __builtin_trap(); }
