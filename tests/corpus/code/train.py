print("corpus trial: never run")
