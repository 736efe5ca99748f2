from portal.hookspecs import hookimpl
from portal.specs import PluginInfo

@hookimpl
def portal_plugin_info():
    return PluginInfo("campus_card", "campus", "0.1.0")
