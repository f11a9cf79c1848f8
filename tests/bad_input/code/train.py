print("bad_input trial: never run by the config cases")
