millrace_add_fuzz(NAME tick_convert_fuzz SOURCES tick_convert.cpp MAX_LEN 64
                  BUGS tick_round_down)
