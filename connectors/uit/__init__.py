"""The UiT side of the hub: event types from UiTdatabank (``classify``) and the pseudonymised participation
export for the UiT exchange platform (``participation``), in the OSLO Cultuurparticipatie shape."""
