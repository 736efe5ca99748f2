from portal.hookspecs import hookimpl
from portal.specs import PluginInfo

@hookimpl
def portal_plugin_info():
    return PluginInfo("police_kiosk", "police", "0.1.0")
