# switchboard-bench output with scenarios in pairs (create,create_key and patch_seq,patch_if_match):
# each pair's req/s ratio B/A, their median, and the ratio of the sums (BENCHMARKS.md, issue 15).
/^(create|create_key|patch_seq|patch_if_match) / {
  if ($1=="create") sa+=$2; if ($1=="create_key") sb+=$2; if ($1=="patch_seq") sc+=$2; if ($1=="patch_if_match") sd+=$2
  if ($1=="create") a=$2; if ($1=="create_key") { r1[++n1]=$2/a }
  if ($1=="patch_seq") c=$2; if ($1=="patch_if_match") { r2[++n2]=$2/c }
}
function median(arr, n,   i,j,t) { for(i=1;i<=n;i++)for(j=i+1;j<=n;j++)if(arr[j]<arr[i]){t=arr[i];arr[i]=arr[j];arr[j]=t}; return n%2?arr[(n+1)/2]:(arr[n/2]+arr[n/2+1])/2 }
END {
  s=""; for(i=1;i<=n1;i++) s=s sprintf(" %.2f", r1[i]); print "create_key/create req/s ratios:" s "  median " sprintf("%.3f", median(r1,n1))
  s=""; for(i=1;i<=n2;i++) s=s sprintf(" %.2f", r2[i]); print "patch_if_match/patch_seq req/s ratios:" s "  median " sprintf("%.3f", median(r2,n2))
  printf "sums: create_key/create %.3f  patch_if_match/patch_seq %.3f\n", sb/sa, sd/sc
}
