# Reference for MetricsTest and ResultFormatTest: SGLang's calculate_metrics formulas in numpy and its result
# block printed with Python's own format(); run `python3 ref_metrics.py` here to regenerate result-block.txt.
import numpy as np, json
# synthetic run: (success, start, ttft, itl, latency, output_len, text, prompt_len)
outs = [
 (True, 0.0, 0.5, [0.1,0.1,0.1], 0.8, 4, "abcd", 100),
 (True, 0.2, 1.0, [0.2,0.3], 1.5, 3, "xyz", 200),
 (False, 0.3, 0.0, [], 0.0, 0, "", 300),
 (True, 1.1, 0.3, [0.05]*10, 0.8, 11, "hello world", 400),
]
dur = 2.5
ttfts=[];tpots=[];itls=[];e2e=[];tin=0;tout=0;ret=0;done=0
for s,st,ttft,itl,lat,ol,text,pl in outs:
    if not s: continue
    tout+=ol; ret+=len(text); tin+=pl
    if ol>1: tpots.append((lat-ttft)/(ol-1))
    itls+=itl; ttfts.append(ttft); e2e.append(lat); done+=1
succ=[o for o in outs if o[0]]
mn=min(o[1] for o in succ); mx=max(o[1]+o[4] for o in succ)
D=int(np.ceil(mx-mn))+1
tps=np.zeros(D); crs=np.zeros(D)
for s,st,ttft,itl,lat,ol,text,pl in succ:
    tt=[st+ttft]; c=tt[0]
    for v in itl:
        c+=v; tt.append(c)
    for t in tt:
        b=int(t-mn)
        if 0<=b<D: tps[b]+=1
    a=int(st-mn); e=int(st+lat-mn)
    for x in range(a, min(e+1,D)): crs[x]+=1
m = dict(completed=done,total_input=tin,total_output=tout,ret=ret,
 request_throughput=done/dur,input_throughput=tin/dur,output_throughput=tout/dur,total_throughput=(tin+tout)/dur,
 mean_ttft=np.mean(ttfts)*1000,median_ttft=np.median(ttfts)*1000,std_ttft=np.std(ttfts)*1000,p99_ttft=np.percentile(ttfts,99)*1000,
 mean_tpot=np.mean(tpots)*1000,median_tpot=np.median(tpots)*1000,std_tpot=np.std(tpots)*1000,p99_tpot=np.percentile(tpots,99)*1000,
 mean_itl=np.mean(itls)*1000,median_itl=np.median(itls)*1000,std_itl=np.std(itls)*1000,p95_itl=np.percentile(itls,95)*1000,p99_itl=np.percentile(itls,99)*1000,max_itl=np.max(itls)*1000,
 mean_e2e=np.mean(e2e)*1000,median_e2e=np.median(e2e)*1000,std_e2e=np.std(e2e)*1000,p90_e2e=np.percentile(e2e,90)*1000,p99_e2e=np.percentile(e2e,99)*1000,
 concurrency=np.sum(e2e)/dur, peak_tok=float(np.max(tps)), peak_conc=int(np.max(crs)))
for k,v in m.items(): print(k, repr(float(v)) if not isinstance(v,int) else v)
backend="sglang"; request_rate=float("inf"); max_concurrency=8
L=[]
L.append("{s:{c}^{n}}".format(s=" Serving Benchmark Result ", n=50, c="="))
L.append("{:<40} {:<10}".format("Backend:", backend))
L.append("{:<40} {:<10}".format("Traffic request rate:", request_rate))
L.append("{:<40} {:<10}".format("Max request concurrency:", max_concurrency if max_concurrency else "not set"))
L.append("{:<40} {:<10}".format("Successful requests:", m['completed']))
L.append("{:<40} {:<10.2f}".format("Benchmark duration (s):", dur))
L.append("{:<40} {:<10}".format("Total input tokens:", m['total_input']))
L.append("{:<40} {:<10}".format("Total input text tokens:", m['total_input']))
L.append("{:<40} {:<10}".format("Total generated tokens:", m['total_output']))
L.append("{:<40} {:<10}".format("Total generated tokens (retokenized):", m['ret']))
L.append("{:<40} {:<10.2f}".format("Request throughput (req/s):", m['request_throughput']))
L.append("{:<40} {:<10.2f}".format("Input token throughput (tok/s):", m['input_throughput']))
L.append("{:<40} {:<10.2f}".format("Output token throughput (tok/s):", m['output_throughput']))
L.append("{:<40} {:<10.2f}".format("Peak output token throughput (tok/s):", m['peak_tok']))
L.append("{:<40} {:<10}".format("Peak concurrent requests:", m['peak_conc']))
L.append("{:<40} {:<10.2f}".format("Total token throughput (tok/s):", m['total_throughput']))
L.append("{:<40} {:<10.2f}".format("Concurrency:", m['concurrency']))
L.append("{s:{c}^{n}}".format(s="End-to-End Latency", n=50, c="-"))
L.append("{:<40} {:<10.2f}".format("Mean E2E Latency (ms):", m['mean_e2e']))
L.append("{:<40} {:<10.2f}".format("Median E2E Latency (ms):", m['median_e2e']))
L.append("{:<40} {:<10.2f}".format("P90 E2E Latency (ms):", m['p90_e2e']))
L.append("{:<40} {:<10.2f}".format("P99 E2E Latency (ms):", m['p99_e2e']))
L.append("{s:{c}^{n}}".format(s="Time to First Token", n=50, c="-"))
L.append("{:<40} {:<10.2f}".format("Mean TTFT (ms):", m['mean_ttft']))
L.append("{:<40} {:<10.2f}".format("Median TTFT (ms):", m['median_ttft']))
L.append("{:<40} {:<10.2f}".format("P99 TTFT (ms):", m['p99_ttft']))
L.append("{s:{c}^{n}}".format(s="Time per Output Token (excl. 1st token)", n=50, c="-"))
L.append("{:<40} {:<10.2f}".format("Mean TPOT (ms):", m['mean_tpot']))
L.append("{:<40} {:<10.2f}".format("Median TPOT (ms):", m['median_tpot']))
L.append("{:<40} {:<10.2f}".format("P99 TPOT (ms):", m['p99_tpot']))
L.append("{s:{c}^{n}}".format(s="Inter-Token Latency", n=50, c="-"))
L.append("{:<40} {:<10.2f}".format("Mean ITL (ms):", m['mean_itl']))
L.append("{:<40} {:<10.2f}".format("Median ITL (ms):", m['median_itl']))
L.append("{:<40} {:<10.2f}".format("P95 ITL (ms):", m['p95_itl']))
L.append("{:<40} {:<10.2f}".format("P99 ITL (ms):", m['p99_itl']))
L.append("{:<40} {:<10.2f}".format("Max ITL (ms):", m['max_itl']))
L.append("=" * 50)
open('result-block.txt','w').write("\n".join(L)+"\n")
print(json.dumps({"tag": None, "request_rate": float("inf"), "x": [1, 2.5], "t": "h\u00e9llo", "n": float("nan")}))
for v in [0.125,1.005,2.675,1234.5,0.005,1e-7, 99.995]: print(repr(v), "{:.2f}".format(v))
for v in [10.0,0.1,1e16,1.5e-05,123456789.0,1e-4,2.5,1e22,12345678901234567.0, 0.00012]: print(repr(v))
